// nodeget.js HOST PORT PATH - http.get by name; prints {"status", "sha256", "address"}.
const http = require("http");
const crypto = require("crypto");
const [host, port, path] = process.argv.slice(2);
const req = http.get({ host, port: Number(port), path: "/" + path, timeout: 20000 }, (res) => {
  const h = crypto.createHash("sha256");
  res.on("data", (d) => h.update(d));
  res.on("end", () => {
    console.log(JSON.stringify({ status: res.statusCode, sha256: h.digest("hex"), address: res.socket.remoteAddress }));
  });
});
req.on("error", (e) => { console.log(JSON.stringify({ error: String(e), code: e.code })); process.exitCode = 1; });
req.on("timeout", () => req.destroy(new Error("timeout")));
