/**
 * Downloading `p2v.identity` from local web servers: a refused TLS
 * certificate is explained in words, a password in the URL never shows up
 * in a message, and plain http:// draws a warning.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { UserError } from "../src/errors.ts";
import { identityUrlWarning, loadIdentity } from "../src/net/identity.ts";
import { run } from "./helpers/process.ts";
import { tempDir } from "./helpers/cleanup.ts";

const KEY = new TextEncoder().encode("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key\n");

const EC = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

/** `openssl ARGS`; no argument here holds a blank (temp dirs have none). */
const openssl = (args: string) => run("openssl", args.split(/\s+/));

/** A self-signed certificate for `name`, made by openssl in a temp dir. */
async function selfSigned(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const keyPath = join(dir, `${name}.key`);
  const certPath = join(dir, `${name}.crt`);
  await openssl(
    `req -x509 ${EC} -days 1 -subj /CN=${name} -addext subjectAltName=DNS:${name} ` +
      `-addext basicConstraints=critical,CA:FALSE -keyout ${keyPath} -out ${certPath}`,
  );
  return { cert: await Deno.readTextFile(certPath), key: await Deno.readTextFile(keyPath) };
}

async function withHttpsServer(fn: (port: number, cert: string) => Promise<void>): Promise<void> {
  const dir = await tempDir({ prefix: "p2v-identity-tls." });
  const { cert, key } = await selfSigned(dir, "localhost");
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    () => new Response(KEY),
  );
  try {
    await fn(server.addr.port, cert);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

async function failure(url: string, fetchImpl?: typeof fetch): Promise<string> {
  let message = "";
  await assert.rejects(loadIdentity(url, { fetchImpl }), (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${err}`);
    message = err.message;
    return true;
  });
  return message;
}

Deno.test("identity: an untrusted https:// certificate is explained, not a bare fetch failure", async () => {
  await withHttpsServer(async (port) => {
    const message = await failure(`https://localhost:${port}/id`);
    assert.equal(
      message,
      `cannot download the identity from https://localhost:${port}/id: the certificate of ` +
        `https://localhost:${port} is not trusted by this machine (it is self-signed or issued ` +
        "by an authority this machine does not know): give that server a certificate from an " +
        "authority this machine trusts, or put the key on the boot medium and use a file:// URL",
    );
  });
});

Deno.test("identity: a trusted certificate for another name says so", async () => {
  await withHttpsServer(async (port, cert) => {
    const client = Deno.createHttpClient({ caCerts: [cert] });
    const trusting: typeof fetch = (input, init) => fetch(input, { ...init, client });
    const message = await failure(`https://127.0.0.1:${port}/id`, trusting).finally(() =>
      client.close()
    );
    assert.match(message, /the certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted/);
    assert.match(message, /\(it is not issued for the name 127\.0\.0\.1\)/);
  });
});

/** A certificate for localhost that expired in 2020, signed by a CA made for it. */
async function expiredCertificate(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const at = (name: string) => join(dir, name);
  await Deno.writeTextFile(at("index.txt"), "");
  await Deno.writeTextFile(at("serial"), "01\n");
  await Deno.writeTextFile(
    at("ca.cnf"),
    `[ca]\ndefault_ca = test\n[test]\ndatabase = ${at("index.txt")}\nserial = ${at("serial")}\n` +
      `new_certs_dir = ${dir}\ndefault_md = sha256\npolicy = any\ncopy_extensions = copy\n` +
      "[any]\ncommonName = supplied\n",
  );
  await openssl(
    `req -x509 ${EC} -days 2 -subj /CN=testca -keyout ${at("ca.key")} -out ${at("ca.crt")}`,
  );
  await openssl(
    `req -new ${EC} -subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout ${
      at("server.key")
    } -out ${at("server.csr")}`,
  );
  await openssl(
    `ca -batch -config ${at("ca.cnf")} -cert ${at("ca.crt")} -keyfile ${at("ca.key")} -in ${
      at("server.csr")
    } -out ${at("server.crt")} -startdate 20200101000000Z -enddate 20200102000000Z`,
  );
  const read = (name: string) => Deno.readTextFile(at(name));
  return {
    ca: await read("ca.crt"),
    cert: await read("server.crt"),
    key: await read("server.key"),
  };
}

Deno.test("identity: an expired certificate points at this machine's clock", async () => {
  const dir = await tempDir({ prefix: "p2v-identity-expired." });
  const { ca, cert, key } = await expiredCertificate(dir);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    () => new Response(KEY),
  );
  const client = Deno.createHttpClient({ caCerts: [ca] });
  try {
    const trusting: typeof fetch = (input, init) => fetch(input, { ...init, client });
    const message = await failure(`https://localhost:${server.addr.port}/id`, trusting);
    assert.match(message, /is not trusted by this machine \(it has expired\): check the date/);
  } finally {
    client.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("identity: a password in the URL never appears in a download error", async () => {
  await withHttpsServer(async (port) => {
    const message = await failure(`https://keyuser:s3cr3t@localhost:${port}/id`);
    assert.match(message, /not trusted by this machine/);
    assert.ok(!message.includes("s3cr3t"), message);
  });
  const bad = await failure("https://keyuser:s3cr3t@[bad/id");
  assert.match(bad, /is not a URL/);
  assert.ok(!bad.includes("s3cr3t"), bad);
});

Deno.test("identity: plain http:// still works, with a warning naming the risk", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(KEY),
  );
  try {
    const url = `http://127.0.0.1:${server.addr.port}/id`;
    assert.deepEqual(await loadIdentity(url), KEY);
    const warning = identityUrlWarning(url);
    assert.ok(warning !== undefined);
    assert.match(warning, /over plain http:\/\/: anyone on the network path can read the key/);
    assert.ok(warning.includes(`127.0.0.1:${server.addr.port}`), warning);
    assert.equal(identityUrlWarning(url.replace("http:", "https:")), undefined);
    assert.equal(identityUrlWarning("file:///root/id"), undefined);
    assert.ok(!identityUrlWarning("http://u:s3cr3t@h/id")!.includes("s3cr3t"));
  } finally {
    await server.shutdown();
  }
});
