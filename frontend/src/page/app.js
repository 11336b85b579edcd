// Saves the key through POST page/call (frontend -> Dapr -> backend -> state store), asking for
// the ETag of the version it wrote (a plain save claims none), then reads it back the same way. The path is relative, so behind the sidecar it stays on
// /v1.0/invoke/frontend/method/page/call, a browser path where the login session applies.
"use strict";

async function call(body) {
  const response = await fetch("page/call", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

document.getElementById("save").addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = document.getElementById("key").value;
  const value = document.getElementById("value").value;
  const result = document.getElementById("result");
  result.textContent = "Saving ...";
  const saved = await call({ appId: "backend", method: "savestate", payload: { key: key, data: value, returnEtag: true } });
  if (saved.status !== 200) {
    result.textContent = "Saving failed (" + saved.status + "): " + saved.text;
    return;
  }
  // The version this save wrote, or why it is not known: another write landed right after it.
  const answer = JSON.parse(saved.text);
  const version = answer.etag ? " (version " + answer.etag + ")" : " (" + answer.etagUnknown + ")";
  const read = await call({ appId: "backend", method: "state/" + encodeURIComponent(key), httpMethod: "GET" });
  result.textContent = read.status === 200
    ? "Saved " + key + version + " and read back: " + read.text
    : "Reading back failed (" + read.status + "): " + read.text;
  result.dataset.done = "true";
});
