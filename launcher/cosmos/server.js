// Test support, not product code: a Cosmos DB protocol server on loopback for the end-to-end
// tests, so the backend's real daprd runs the shipped state.azure.cosmosdb component against
// the Cosmos DB REST protocol.
//
// It is npm @vercel/cosmosdb-server (in memory, ignores auth signatures) with:
// - TLS from the certificate the test support generated for this run (the package's own
//   certificate has no subjectAltName and has expired, so Go clients such as daprd refuse it);
// - a plain-HTTP door on a second loopback port to the very same server and data, for the
//   tests' own reads of the stored documents (they then need no TLS stack);
// - credentials checked as Cosmos DB would (the server checks none): an Entra ID token from a
//   managed identity endpoint served here too, or a request signed with the master key;
// - four small fixes where the server differs from Cosmos DB in ways Dapr's component meets,
//   each marked "FIX" below. They make the server behave like Cosmos DB; none relaxes a check.
//
// Usage: node server.js --port P --inspect-port Q --cert cert.pem --key key.pem
//          (--identity-port R --client-id ID --identity-header H | --master-key K)

"use strict";

const crypto = require("node:crypto");
const fs = require("node:fs");
const http = require("node:http");
const { parseArgs } = require("node:util");

const lib = "@vercel/cosmosdb-server/lib";
const Items = require(`${lib}/account/items`).default;
const operations = require(`${lib}/handler/_document-operations`);
const readItems = require(`${lib}/handler/_read-items`).default;
const readJson = require(`${lib}/json`).default;
const partitionHeader = require(`${lib}/utils/get-partition-from-header`);
const isTrueHeader = require(`${lib}/true-header`).default;

const handlers = {
  readDocument: require(`${lib}/handler/read-document`),
  batch: require(`${lib}/handler/batch-documents`),
  queryDocuments: require(`${lib}/handler/query-documents`),
};

/** The partition key a request names in x-ms-documentdb-partitionkey (`["value"]`), if any. */
function requestPartitionKey(req, id) {
  const header = partitionHeader.default(req);
  return header === undefined ? undefined : partitionHeader.parsePartitionKey(header, id);
}

function notFound(res) {
  res.statusCode = 404;
  return {
    code: "NotFound",
    message: "Entity with the specified id does not exist in the system.",
  };
}

// FIX 1: ETags. Cosmos DB's `_etag` is a quoted string (`"00000000-…"`, quotes included, and
// the `etag` header is the same text); the server makes bare UUIDs. Quoting them here means
// the backend's ETag handling is tested against the real format.
const setItem = Items.prototype._set;
Items.prototype._set = function setWithQuotedEtag(data) {
  return setItem.call(this, { ...data, _etag: `"${data._etag}"` });
};

// FIX 2: reading a missing item. Cosmos DB answers 404 (Dapr reads that as "no value"); the
// server throws on the missing document and answers 500.
const readDocument = handlers.readDocument.default;
handlers.readDocument.default = (account, req, res, params) => {
  const collection = account.database(params.dbId).collection(params.collId);
  const partitionKey = requestPartitionKey(req, params.docId);
  if (collection.read() && partitionKey !== undefined) {
    if (!collection.document(params.docId, partitionKey).read()) {
      return notFound(res);
    }
  }
  return readDocument(account, req, res, params);
};

// FIX 3: transactional batch. Cosmos DB takes the batch's partition key from the request
// header and runs the batch atomically: if one operation fails, none is applied and the
// answer is 207 with that operation's status and 424 for the others. The server wants the
// partition key inside each operation (so every batch from Go's SDK failed with 500) and
// kept the operations before a failure. This replaces its handler.
const BATCH_OPERATIONS = {
  Create: operations.createOperation,
  Upsert: operations.upsertOperation,
  Read: operations.readOperation,
  Delete: operations.deleteOperation,
  Replace: operations.replaceOperation,
};
handlers.batch.default = async (account, req, res, { dbId, collId }) => {
  const batch = await readJson(req);
  const collection = account.database(dbId).collection(collId);
  if (!collection.read()) {
    return notFound(res);
  }
  if (!Array.isArray(batch) || batch.some((op) => !BATCH_OPERATIONS[op && op.operationType])) {
    res.statusCode = 400;
    return { code: "BadRequest", message: "a batch is an array of Create, Upsert, Read, Delete or Replace operations" };
  }
  const partitionKey = partitionHeader.default(req);
  const documents = collection.documents;
  const before = { _data: new Map(documents._data), _index: new Map(documents._index) };
  const results = [];
  try {
    for (const op of batch) {
      const result = BATCH_OPERATIONS[op.operationType](collection, { partitionKey, ...op });
      results.push(result);
      if (result.statusCode >= 400) break;
    }
  } catch (error) {
    Object.assign(documents, before);
    throw error;
  }
  const failed = results.findIndex((result) => result.statusCode >= 400);
  if (failed === -1) {
    return results.map(({ statusCode, body }) => ({
      statusCode,
      requestCharge: 1,
      eTag: body ? body._etag : undefined,
      resourceBody: body,
    }));
  }
  Object.assign(documents, before);
  res.statusCode = 207;
  return batch.map((_, index) => ({
    statusCode: index === failed ? results[failed].statusCode : 424,
    requestCharge: 0,
  }));
};

// FIX 4: partition-scoped queries. Cosmos DB runs a query that names a partition key in the
// header over that partition only; the server answered 400 unless the query text itself
// filtered on the partition key path. This runs it over a view holding only that partition.
const queryDocuments = handlers.queryDocuments.default;
handlers.queryDocuments.default = async (account, req, res, params) => {
  const partitionKey = requestPartitionKey(req);
  if (partitionKey === undefined || isTrueHeader(req, "x-ms-documentdb-query-enablecrosspartition")) {
    return queryDocuments(account, req, res, params);
  }
  const collection = account.database(params.dbId).collection(params.collId);
  if (!collection.read()) {
    return notFound(res);
  }
  return readItems(req, res, "Documents", async ({ continuation, maxItemCount }) => {
    const body = await readJson(req);
    const { documents } = collection;
    const inPartition = [...documents._data].filter(
      ([, item]) => documents._getPartition(item.read()) === partitionKey
    );
    const partition = Object.create(documents, { _data: { value: new Map(inPartition) } });
    try {
      return partition.query(body, { continuation, maxItemCount });
    } catch (error) {
      if (!error.badRequest) throw error;
      res.statusCode = 400;
      return { code: "BadRequest", message: error.message };
    }
  });
};

// The routes table captures the handlers when it is loaded, so it is loaded after the fixes.
const { createHttpsServer } = require("@vercel/cosmosdb-server");

const { values: args } = parseArgs({
  options: {
    port: { type: "string" },
    "inspect-port": { type: "string" },
    cert: { type: "string" },
    key: { type: "string" },
    "identity-port": { type: "string" },
    "client-id": { type: "string" },
    "identity-header": { type: "string" },
    "master-key": { type: "string" },
  },
});
for (const name of ["port", "inspect-port", "cert", "key"]) {
  if (!args[name]) {
    console.error(
      `usage: node server.js --port P --inspect-port Q --cert cert.pem --key key.pem ` +
        `(--identity-port R --client-id ID --identity-header H | --master-key K) (missing --${name})`
    );
    process.exit(2);
  }
}
const managedIdentity = args["identity-port"] !== undefined;
if (managedIdentity ? !(args["client-id"] && args["identity-header"]) : !args["master-key"]) {
  console.error("give either --identity-port, --client-id and --identity-header, or --master-key");
  process.exit(2);
}

// Who may call the account. The server itself checks no credentials at all, so without this
// any daprd would pass, whatever its component says.
// - With --identity-port, the account accepts only Entra ID tokens (like an account with
//   `disableLocalAuth`), and only the token its managed identity endpoint issued;
// - else it accepts only requests signed with its master key (--master-key).
const accessToken = crypto.randomBytes(32).toString("hex");
function authorized(req, res) {
  const credentials = authorizationFields(req.headers.authorization);
  const ok = managedIdentity
    ? credentials.type === "aad" && credentials.sig === accessToken
    : credentials.type === "master" && credentials.sig === masterKeySignature(req);
  if (!ok) {
    res.writeHead(401, { "content-type": "application/json" });
    res.end(JSON.stringify({
      code: "Unauthorized",
      message: managedIdentity
        ? "this account takes only an Entra ID token from its managed identity endpoint"
        : "this account takes only requests signed with its master key",
    }));
  }
  return ok;
}

/** `type=…&ver=…&sig=…`, URL-encoded as a whole (a signature may hold `+`, `/`, `=`). */
function authorizationFields(header) {
  try {
    const fields = decodeURIComponent(header || "").split("&").map((field) => {
      const at = field.indexOf("=");
      return at === -1 ? [field, ""] : [field.slice(0, at), field.slice(at + 1)];
    });
    return Object.fromEntries(fields);
  } catch {
    return {};
  }
}

/**
 * Cosmos DB's master-key signature of a request: base64 HMAC-SHA256, with the base64-decoded
 * key, of "verb\nresource type\nresource link\nx-ms-date\n\n" (verb, type and date lower-case).
 * A path with an odd number of segments names a feed (`dbs/d/colls/c/docs`: type `docs`,
 * link `dbs/d/colls/c`); an even one a resource (`…/docs/ID`: type `docs`, link the path).
 */
function masterKeySignature(req) {
  const path = decodeURIComponent(new URL(req.url, "https://127.0.0.1").pathname);
  const segments = path.split("/").filter(Boolean);
  const feed = segments.length % 2 === 1;
  const type = segments.length === 0 ? "" : segments[segments.length - (feed ? 1 : 2)];
  const link = (feed ? segments.slice(0, -1) : segments).join("/");
  const date = req.headers["x-ms-date"] || "";
  const text = `${req.method.toLowerCase()}\n${type.toLowerCase()}\n${link}\n${date.toLowerCase()}\n\n`;
  const key = Buffer.from(args["master-key"], "base64");
  return crypto.createHmac("sha256", key).update(text).digest("base64");
}

// A managed identity endpoint as Azure Container Apps (and App Service) runs one next to an app:
// daprd finds it through IDENTITY_ENDPOINT and IDENTITY_HEADER and asks
// `GET ?api-version=2019-08-01&resource=R&client_id=C` with header X-IDENTITY-HEADER. It gives
// the account's token only to the configured client id, for this account as the resource.
function identityEndpoint(req, res) {
  const url = new URL(req.url, "http://127.0.0.1");
  const query = url.searchParams;
  const refuse = (status, error) => {
    console.error(`managed identity endpoint: ${status} ${error}`);
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify({ error }));
  };
  if (req.headers["x-identity-header"] !== args["identity-header"]) {
    return refuse(401, "missing or wrong X-IDENTITY-HEADER");
  }
  if (query.get("api-version") !== "2019-08-01") {
    return refuse(400, `unsupported api-version ${query.get("api-version")}`);
  }
  if (query.get("client_id") !== args["client-id"]) {
    return refuse(400, `no identity with client_id ${query.get("client_id")} is assigned`);
  }
  // Cosmos DB clients ask for the account's own host (scope https://HOST/.default).
  if (query.get("resource") !== "https://127.0.0.1") {
    return refuse(400, `no token for resource ${query.get("resource")}`);
  }
  console.log(`managed identity endpoint: token issued to client_id ${query.get("client_id")}`);
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({
    access_token: accessToken,
    expires_on: String(Math.floor(Date.now() / 1000) + 3600),
    resource: query.get("resource"),
    token_type: "Bearer",
    client_id: args["client-id"],
  }));
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(port), "127.0.0.1", resolve);
  });
}

// Bound to 127.0.0.1: the server advertises the address it is bound to as its write location,
// and the certificate names 127.0.0.1 and localhost.
const server = createHttpsServer({
  cert: fs.readFileSync(args.cert),
  key: fs.readFileSync(args.key),
  minVersion: "TLSv1.2",
});
const [serve] = server.listeners("request");
server.removeAllListeners("request");
server.on("request", (req, res) => authorized(req, res) && serve.call(server, req, res));
// The tests' door reads the same data without TLS or credentials.
const door = http.createServer((req, res) => serve.call(server, req, res));

(async () => {
  await listen(server, args.port);
  if (managedIdentity) {
    await listen(http.createServer(identityEndpoint), args["identity-port"]);
  }
  // The door last: the test support takes its answer as "everything is up".
  await listen(door, args["inspect-port"]);
  console.log(
    `Cosmos DB protocol server: https://127.0.0.1:${args.port}/ ` +
      `(plain-HTTP door for tests: http://127.0.0.1:${args["inspect-port"]}/; ` +
      (managedIdentity ? `managed identity endpoint: http://127.0.0.1:${args["identity-port"]}/)` : "master-key signatures)")
  );
})().catch((error) => {
  console.error(error);
  process.exit(1);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
