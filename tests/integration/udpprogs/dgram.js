// node dgram through socksify: node dgram.js udp4|udp6 HOST PORT COUNT
// Sends COUNT datagrams at once (libuv may batch them: sendmmsg through syscall()),
// waits for their echoes; prints one JSON line: the payloads seen back and each
// reply's rinfo.address, and for a name the address dns.lookup gives.
'use strict';
const dgram = require('dgram');
const dns = require('dns');
const crypto = require('crypto');

const [type, host, portText, countText] = process.argv.slice(2);
const port = Number(portText), count = Number(countText || 1);
const sock = dgram.createSocket(type);
const sent = [], got = [];
const timer = setTimeout(() => { finish('timeout'); }, 8000);

function finish(error) {
  clearTimeout(timer);
  console.log(JSON.stringify({ error: error || null, sent: sent.length, got }));
  sock.close();
  process.exitCode = error ? 1 : 0;
}

sock.on('error', (e) => finish(e.code || String(e)));
sock.on('message', (msg, rinfo) => {
  got.push({ ok: sent.includes(msg.toString('hex')), len: msg.length, address: rinfo.address, port: rinfo.port });
  if (got.length === count) finish(null);
});
dns.lookup(host, { family: type === 'udp6' ? 6 : 4 }, (err, address) => {
  if (err) return finish('lookup ' + err.code);
  console.log(JSON.stringify({ lookup: address }));
  for (let i = 0; i < count; i++) {
    const payload = crypto.randomBytes(20 + i * 100);
    sent.push(payload.toString('hex'));
    sock.send(payload, port, host, (e) => { if (e) finish('send ' + (e.code || String(e))); });
  }
});
