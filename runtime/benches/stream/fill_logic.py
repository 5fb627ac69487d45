"""Fills the scaffold logic of `rpc Watch` in a service fresh from `rustctl rpc new` +
`rustctl rpc protoc stream.proto`: the stub's body becomes the loop bare-tonic-stream runs,
`count` Events (`text: "event"`, `seq` 0, 1, ...) sent into the `tx` the generated server glue
hands it, stopping when the client goes away. The signature, imports and test stay as
generated. usage: fill_logic.py LOGIC_FILE"""
import re
import sys

path = sys.argv[1]
src = open(path).read()
m = re.search(r"tx: mpsc::Sender<Result<([\w:]+), Status>>", src)
stub = "    let _ = (svc, ctx, req, tx);\n    Ok(())\n"
if not m or stub not in src:
    sys.exit(f"{path}: not the generated Watch stub (signature or body changed?)")
event = m.group(1)
body = f"""    let _ = (svc, ctx);
    for seq in 0..i64::from(req.count.max(0)) {{
        let event = {event} {{ text: "event".to_owned(), seq }};
        if tx.send(Ok(event)).await.is_err() {{
            break; // the client went away
        }}
    }}
    Ok(())
"""
open(path, "w").write(src.replace(stub, body, 1))
