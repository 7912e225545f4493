// What scripts/examples.mjs refuses, on small made-up specs (node --test scripts/).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";

const script = join(dirname(fileURLToPath(import.meta.url)), "examples.mjs");
const dir = mkdtempSync(join(tmpdir(), "storefront-examples-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function spec(currency) {
  return `openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /v1/orders:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Create'}
            examples:
              minimal: {value: {name: n, amount: 1}}
      responses:
        '201':
          description: created
components:
  schemas:
    Create:
      type: object
      required: [name, amount]
      properties:
        name: {type: string}
        amount: {type: integer}
        currency: ${currency}
`;
}

function run(specText, readme) {
  const specPath = join(dir, "openapi.yaml");
  const readmePath = join(dir, "README.md");
  const out = join(dir, "out.ts");
  writeFileSync(specPath, specText);
  writeFileSync(readmePath, readme);
  const done = spawnSync(process.execPath, [script, specPath, readmePath, out], { encoding: "utf8" });
  return { status: done.status, output: done.stdout + done.stderr, out };
}

test("an optional request member with a default is refused (generated clients would require it)", () => {
  const { status, output } = run(spec("{type: string, default: KRW}"), "");
  assert.equal(status, 1);
  assert.match(output, /optional member "currency" has a default/);
});

test("the same member without a default passes, and the example and README's calls are written out", () => {
  const readme = "```sh\ncurl -s -X POST $GW/v1/orders -H \"$AUTH\" \\\n     -d '{\"name\":\"a\",\"amount\":2}'\n```\n";
  const { status, output, out } = run(spec("{type: string}"), readme);
  assert.equal(status, 0, output);
  const text = readFileSync(out, "utf8");
  assert.match(text, /RequestBody<"\/v1\/orders", "post"> = \{\s*"name": "n",\s*"amount": 1\s*\}/);
  assert.match(text, /client\.POST\("\/v1\/orders", \{\s*"body": \{\s*"name": "a",\s*"amount": 2/);
});

test("a README call to a path the spec does not have is refused", () => {
  const { status, output } = run(spec("{type: string}"), "curl -s $GW/v1/nowhere\n");
  assert.equal(status, 1);
  assert.match(output, /\/v1\/nowhere is not a path of openapi.yaml/);
});
