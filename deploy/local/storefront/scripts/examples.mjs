// Writes checks/examples.generated.ts: every request and response example of openapi.yaml, and
// every call to the gateway in README.md's `curl` lines, as TypeScript typed by the types that
// openapi-typescript generates (src/api.d.ts). `npm run typecheck` then fails when an example
// no longer fits what a generated client accepts or returns.
//
//   node scripts/examples.mjs [openapi.yaml] [README.md] [output.ts]
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..", "..");
const specPath = process.argv[2] ?? join(root, "openapi.yaml");
const readmePath = process.argv[3] ?? join(root, "README.md");
const outPath = process.argv[4] ?? join(here, "..", "checks", "examples.generated.ts");

const spec = parse(readFileSync(specPath, "utf8"));
const methods = ["get", "put", "post", "delete", "patch"];

function resolve(node) {
  let seen = 0;
  while (node && typeof node === "object" && typeof node.$ref === "string") {
    if (++seen > 20) throw new Error(`$ref loop at ${node.$ref}`);
    const parts = node.$ref.replace(/^#\//, "").split("/").map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    node = parts.reduce((n, p) => n?.[p], spec);
    if (node === undefined) throw new Error(`unresolved $ref`);
  }
  return node;
}

function ident(...parts) {
  return parts.join("_").replace(/[^A-Za-z0-9_]/g, "_").replace(/_+/g, "_").replace(/^_|_$/g, "");
}

function examplesOf(media) {
  const out = [];
  if (!media) return out;
  if (media.example !== undefined) out.push(["example", media.example]);
  for (const [name, ex] of Object.entries(media.examples ?? {})) {
    const value = resolve(ex)?.value;
    if (value !== undefined) out.push([name, value]);
  }
  return out;
}

// openapi-typescript makes a member with a `default` required (it reads the default as "always
// there in what the server sends"): in a request body that turns an optional member into one every
// caller must send. Refuse such defaults in anything a request body reaches.
const defaultsProblems = [];
function walkRequestSchema(node, where, seen) {
  if (!node || typeof node !== "object") return;
  const ref = node.$ref;
  if (ref) {
    if (seen.has(ref)) return;
    seen.add(ref);
    return walkRequestSchema(resolve(node), ref, seen);
  }
  const required = new Set(node.required ?? []);
  for (const [name, prop] of Object.entries(node.properties ?? {})) {
    const p = resolve(prop);
    if (p && typeof p === "object" && "default" in p && !required.has(name)) {
      defaultsProblems.push(`${where}: optional member "${name}" has a default`);
    }
    walkRequestSchema(prop, `${where}.${name}`, seen);
  }
  for (const key of ["allOf", "anyOf", "oneOf"]) for (const s of node[key] ?? []) walkRequestSchema(s, where, seen);
  if (node.items) walkRequestSchema(node.items, `${where}[]`, seen);
  if (typeof node.additionalProperties === "object") walkRequestSchema(node.additionalProperties, `${where}{}`, seen);
}
for (const [path, item] of Object.entries(spec.paths ?? {})) {
  for (const method of methods) {
    const media = resolve(item[method]?.requestBody)?.content?.["application/json"];
    if (media?.schema) walkRequestSchema(media.schema, `${method.toUpperCase()} ${path}`, new Set());
  }
}
if (defaultsProblems.length) {
  console.error(defaultsProblems.join("\n"));
  process.exit(1);
}

const lines = [];
const used = new Set();
function unique(name) {
  let n = name, i = 2;
  while (used.has(n)) n = `${name}_${i++}`;
  used.add(n);
  return n;
}
let count = 0;

// openapi.yaml's own examples.
for (const [path, item] of Object.entries(spec.paths ?? {})) {
  for (const method of methods) {
    const op = item[method];
    if (!op) continue;
    const body = resolve(op.requestBody);
    for (const [name, value] of examplesOf(body?.content?.["application/json"])) {
      const id = unique(ident("spec", method, path, "request", name));
      lines.push(`export const ${id}: RequestBody<${JSON.stringify(path)}, ${JSON.stringify(method)}> = ${JSON.stringify(value, null, 2)};`);
      count++;
    }
    for (const [status, response] of Object.entries(op.responses ?? {})) {
      const media = resolve(response)?.content?.["application/json"];
      const key = /^\d+$/.test(status) ? status : JSON.stringify(status);
      for (const [name, value] of examplesOf(media)) {
        const id = unique(ident("spec", method, path, status, name));
        lines.push(`export const ${id}: ResponseBody<${JSON.stringify(path)}, ${JSON.stringify(method)}, ${key}> = ${JSON.stringify(value, null, 2)};`);
        count++;
      }
    }
  }
}

// README.md's calls to the gateway, as a generated client makes them.
function shellWords(cmd) {
  const words = [];
  let i = 0;
  while (i < cmd.length) {
    while (i < cmd.length && /\s/.test(cmd[i])) i++;
    if (i >= cmd.length) break;
    let word = "";
    while (i < cmd.length && !/\s/.test(cmd[i])) {
      const c = cmd[i];
      if (c === "'") {
        const end = cmd.indexOf("'", i + 1);
        word += cmd.slice(i + 1, end);
        i = end + 1;
      } else if (c === '"') {
        i++;
        while (i < cmd.length && cmd[i] !== '"') {
          if (cmd[i] === "\\" && i + 1 < cmd.length) { word += cmd[i + 1]; i += 2; continue; }
          if (cmd.startsWith("$(", i)) { // a command or arithmetic substitution: a number stands in
            let depth = 0, j = i + 1;
            for (; j < cmd.length; j++) {
              if (cmd[j] === "(") depth++;
              else if (cmd[j] === ")" && --depth === 0) break;
            }
            word += "4102444800";
            i = j + 1;
            continue;
          }
          if (cmd[i] === "$") {
            const m = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/.exec(cmd.slice(i));
            if (m) { word += `$${m[1]}`; i += m[0].length; continue; }
          }
          word += cmd[i++];
        }
        i++;
      } else if (c === "|" || c === ";" || c === "#" && word === "") {
        return words; // the rest is another command, a pipe or a comment
      } else {
        word += c;
        i++;
      }
    }
    words.push(word);
  }
  return words;
}

const templates = Object.keys(spec.paths ?? {}).map((t) => ({
  t,
  re: new RegExp("^" + t.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\\?\{([^}]+)\\?\}/g, "(?<$1>[^/]+)") + "$"),
}));

const readme = readFileSync(readmePath, "utf8").replace(/\\\n\s*/g, " ");
let readmeCount = 0;
for (const line of readme.split("\n")) {
  for (const start of [...line.matchAll(/(?:^|[\s(=])curl\s/g)].map((m) => m.index)) {
    const words = shellWords(line.slice(start).replace(/^[\s(=]/, ""));
    if (words[0] !== "curl") continue;
    let method, data, url;
    const headers = {};
    for (let k = 1; k < words.length; k++) {
      const w = words[k];
      if (w === "-X" || w === "--request") method = words[++k];
      else if (w === "-d" || w === "--data" || w === "--data-raw") data = words[++k];
      else if (w === "-H" || w === "--header") {
        const h = words[++k];
        const colon = h.indexOf(":");
        if (colon > 0) headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
      } else if (!w.startsWith("-") && url === undefined) url = w;
    }
    if (!url) continue;
    const m = /^(?:\$GW|https?:\/\/(?:127\.0\.0\.1|localhost):8080)(\/[^?\s]*)(?:\?(\S*))?$/.exec(url);
    if (!m) continue; // not the gateway (the simulator's control endpoints, for one)
    const path = m[1];
    const tpl = templates.find(({ re }) => re.test(path));
    if (!tpl) throw new Error(`README.md: ${path} is not a path of openapi.yaml`);
    method = (method ?? (data !== undefined ? "POST" : "GET")).toUpperCase();
    const params = {};
    const pathParams = tpl.re.exec(path).groups;
    if (pathParams && Object.keys(pathParams).length) params.path = pathParams;
    if (m[2]) {
      params.query = {};
      for (const [k, v] of new URLSearchParams(m[2])) params.query[k] = /^\d+$/.test(v) ? Number(v) : v;
    }
    const wanted = ["idempotency-key", "x-request-id", "x-client-secret"];
    const hdr = Object.fromEntries(Object.entries(headers).filter(([k]) => wanted.includes(k)).map(([k, v]) => [k.replace(/(^|-)(\w)/g, (_, d, c) => d + c.toUpperCase()), v]));
    if (Object.keys(hdr).length && !("XClientSecret" in hdr)) params.header = hdr;
    const init = {};
    if (Object.keys(params).length) init.params = params;
    if (data !== undefined) {
      try {
        init.body = JSON.parse(data);
      } catch (e) {
        throw new Error(`README.md: the body of ${method} ${path} is not JSON: ${data}`);
      }
    }
    const id = unique(ident("readme", String(++readmeCount), method, path));
    lines.push(`export async function ${id}(client: Client) {\n  return client.${method}(${JSON.stringify(tpl.t)}, ${JSON.stringify(init, null, 2)});\n}`);
    count++;
  }
}

const header = `// Generated by scripts/examples.mjs from openapi.yaml and README.md: do not edit.
import type { Client as FetchClient } from "openapi-fetch";
import type { paths } from "../src/api.js";

type Client = FetchClient<paths>;
type Json<T> = T extends { content: { "application/json": infer B } } ? B : never;
type RequestBody<P extends keyof paths, M extends keyof paths[P]> =
  paths[P][M] extends { requestBody?: infer R } ? Json<NonNullable<R>> : never;
type ResponseBody<P extends keyof paths, M extends keyof paths[P], S> =
  paths[P][M] extends { responses: infer R } ? (S extends keyof R ? Json<R[S]> : never) : never;
`;
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, header + "\n" + lines.join("\n\n") + "\n");
console.log(`examples: ${count} (${readmeCount} from README.md) written to ${outPath}`);
