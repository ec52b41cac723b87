/**
 * One sender for tests/bench/ssh_ciphers.ts: connects to a test sshd with one
 * cipher through ssh2, streams BYTES into `cat > /dev/null` on the server,
 * and prints one JSON line: seconds, its own CPU seconds, the cipher that was
 * negotiated and whether libcrypto encrypted it. With VIRT_P2V_NO_LIBCRYPTO=1
 * in its environment, ssh2's node:crypto code does.
 *
 *   deno run -A tests/bench/ssh_send.ts PORT USER KEYFILE CIPHER BYTES deno|node
 */
import { libcryptoCiphersInUse } from "../../src/net/ssh2_fast_ciphers.ts";
import { TcpSocket } from "../../src/net/tcp_socket.ts";
import { Buffer } from "node:buffer";
import { Socket } from "node:net";
// @ts-types="npm:@types/ssh2@1.15.6"
import { type CipherAlgorithm, Client, type ClientChannel } from "ssh2";
import { cpuTimes } from "./proc_stats.ts";

const [port, user, keyFile, cipher, bytesText, transport] = Deno.args;
const bytes = Number(bytesText);
const chunk = Buffer.from(crypto.getRandomValues(new Uint8Array(65536)));
// NBD read replies are 256 KiB; send pieces of that size like the export does.
const reply = Buffer.concat([chunk, chunk, chunk, chunk]);

const client = new Client();
let negotiated = "";
client.on("handshake", (n) => negotiated = n.cs.cipher);
const sock = transport === "node" ? new Socket() : new TcpSocket("127.0.0.1", Number(port));
if (sock instanceof Socket) sock.connect(Number(port), "127.0.0.1");
await new Promise<void>((resolve, reject) => {
  client.once("ready", () => resolve());
  client.once("error", reject);
  client.connect({
    sock,
    username: user,
    privateKey: Buffer.from(Deno.readFileSync(keyFile)),
    algorithms: { cipher: [cipher as CipherAlgorithm] },
  });
});
const channel = await new Promise<ClientChannel>((resolve, reject) =>
  client.exec("cat > /dev/null", (err, ch) => err ? reject(err) : resolve(ch))
);
// Its (empty) output must be read, or the channel never reports its close.
channel.resume();
const cpu0 = cpuTimes("self").self;
const t0 = performance.now();
let sent = 0;
while (sent < bytes) {
  if (!channel.write(reply)) await new Promise((r) => channel.once("drain", r));
  sent += reply.length;
}
await new Promise<void>((resolve) => {
  channel.once("close", () => resolve());
  channel.end();
});
const seconds = (performance.now() - t0) / 1000;
const cpu = cpuTimes("self").self - cpu0;
client.end();
console.log(JSON.stringify({ seconds, cpu, negotiated, libcrypto: libcryptoCiphersInUse() }));
Deno.exit(0);
