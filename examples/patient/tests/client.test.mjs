// The generated TypeScript client calling a running patient-api (Node.js 20's test runner and
// fetch). tests/conformance.rs compiles the client with tsc and runs this with CLIENT (the
// compiled client.js) and BASE_URL set.
import assert from "node:assert/strict";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

const { ApiError, Client } = await import(pathToFileURL(process.env.CLIENT).href);
const api = new Client({ baseUrl: process.env.BASE_URL });

test("a known patient", async () => {
  const patient = await api.getPatient({ id: 1001 });
  assert.deepEqual(patient, { id: 1001, name: "王女士", trialId: "NCT045148", isEnrolled: true });
});

test("an unknown patient is a 404 with the error body", async () => {
  await assert.rejects(api.getPatient({ id: 9999 }), (e) => {
    assert.ok(e instanceof ApiError);
    assert.equal(e.status, 404);
    assert.deepEqual(e.body, { code: 404, msg: "患者信息未找到" });
    return true;
  });
});

test("a malformed id is a 400 naming the field", async () => {
  await assert.rejects(api.getPatient({ id: "abc" }), (e) => {
    assert.ok(e instanceof ApiError);
    assert.equal(e.status, 400);
    assert.match(e.body.msg, /`id`/);
    return true;
  });
});

test("a call can be aborted", async () => {
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(api.getPatient({ id: 1001 }, { signal: controller.signal }), {
    name: "AbortError",
  });
});
