// The generated TypeScript client calling a running epro-api (Node.js 20's test runner and
// fetch). tests/conformance.rs compiles the client with tsc and runs this with CLIENT (the
// compiled client.js), BASE_URL and TOKEN (a JWT the service accepts) set.
import assert from "node:assert/strict";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

const { ApiError, Client } = await import(pathToFileURL(process.env.CLIENT).href);
const api = new Client({ baseUrl: process.env.BASE_URL, token: () => process.env.TOKEN });
const anonymous = new Client({ baseUrl: process.env.BASE_URL });

test("a questionnaire is submitted", async () => {
  const reply = await api.submit({ patientId: "P-1001", painScore: 8 });
  assert.equal(reply.alerted, true);
  assert.equal(reply.tasks.length, 3);
});

test("a field out of its range is a 400 naming it", async () => {
  await assert.rejects(api.submit({ patientId: "P-1001", painScore: 11 }), (e) => {
    assert.ok(e instanceof ApiError);
    assert.equal(e.status, 400);
    assert.equal(e.body.code, 400);
    assert.match(e.body.msg, /`painScore`/);
    return true;
  });
});

test("the bearer token comes from the token hook", async () => {
  const me = await api.me();
  assert.equal(me.subject, "doctor-42");
});

test("without a token a jwt route is a 401", async () => {
  await assert.rejects(anonymous.me(), (e) => {
    assert.ok(e instanceof ApiError);
    assert.equal(e.status, 401);
    return true;
  });
});

test("query fields and headers are placed by the client", async () => {
  const rows = await api.export({ format: "json" }, { headers: { "X-User-Role": "admin" } });
  assert.equal(rows.format, "json");
  assert.ok(Array.isArray(rows.rows));
  await assert.rejects(api.export({ format: "xml" }, { headers: { "X-User-Role": "admin" } }), {
    status: 400,
  });
});
