/**
 * `-o libvirt` settings checked against a real libvirtd before any disk is
 * exported: a pool or network the server does not have, or a pool that is
 * not running, ends the run in one line naming what the server has. The
 * stub virt-v2v is enough: virt-v2v is never reached.
 */
import assert from "node:assert/strict";
import { tempDir } from "../helpers/cleanup.ts";
import { makeDenseImage, MiB } from "../helpers/images.ts";
import { p2vArgs, runP2v } from "../helpers/p2v.ts";
import { startSshd } from "../helpers/sshd.ts";
import { installStubVirtV2v } from "../helpers/stub_server.ts";
import { LIBVIRT_URI, startLibvirt } from "./libvirt.ts";
import { connectToServer } from "../../src/engine/connect.ts";
import { DEFAULT_TIMEOUTS } from "../../src/engine/timeouts.ts";
import { engineConfig } from "../helpers/engine_fixtures.ts";

Deno.test({
  name: "-o libvirt: a missing pool, an inactive pool and a missing network, each one line",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const work = await tempDir({ prefix: "p2v-libvirt-target." });
    const disk = await makeDenseImage(work, "disk.img", 4 * MiB);
    const sshd = await startSshd({ rootLogin: true });
    const libvirt = await startLibvirt();
    try {
      await installStubVirtV2v(sshd);
      const attempt = (keys: string) =>
        runP2v(p2vArgs(
          `p2v.server=127.0.0.1 p2v.port=${sshd.port} p2v.username=root ` +
            `p2v.identity=file://${sshd.userKeyPath} p2v.post= p2v.name=target ` +
            `p2v.disks=${disk} p2v.o=libvirt p2v.oc=${LIBVIRT_URI} ${keys}`,
        ));
      const oneLine = (r: { code: number; stdout: string; stderr: string }, pattern: RegExp) => {
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
        assert.match(r.stderr.trim(), pattern);
        assert.doesNotMatch(r.stdout, /Starting the NBD servers/);
        console.log(r.stderr.trim());
      };

      // The test connection brings the pools and networks for the dialog's -os.
      const base = engineConfig({ name: "target", disk, storage: "", reconnectSeconds: 0 });
      const connected = await connectToServer(
        {
          ...base,
          remote: { server: "127.0.0.1", port: sshd.port, hostKeys: [] },
          auth: { username: "root", sudo: false, identityUrl: `file://${sshd.userKeyPath}` },
          output: { type: "libvirt", connection: LIBVIRT_URI, storage: libvirt.pool, misc: [] },
        },
        () => {},
        DEFAULT_TIMEOUTS,
      );
      connected.link.close();
      const inventory = connected.capabilities.libvirt;
      assert.ok(inventory, "no libvirt inventory from the test connection");
      assert.ok(inventory.pools.includes(libvirt.pool), inventory.pools.join(", "));
      assert.ok(inventory.activePools.includes(libvirt.pool));
      assert.ok(inventory.networks.includes(libvirt.network), inventory.networks.join(", "));

      const noPool = await attempt(`p2v.os=nosuchpool p2v.network=${libvirt.network}`);
      oneLine(
        noPool,
        new RegExp(
          `^virt-p2v: error: no libvirt pool "nosuchpool" on the server; it has: .*\\b${libvirt.pool}\\b`,
        ),
      );

      const noNet = await attempt(`p2v.os=${libvirt.pool} p2v.network=nosuchnet`);
      oneLine(
        noNet,
        new RegExp(
          `^virt-p2v: error: no libvirt network "nosuchnet" on the server; it has: .*\\b${libvirt.network}\\b`,
        ),
      );

      await libvirt.virsh("pool-destroy", libvirt.pool);
      const inactive = await attempt(`p2v.os=${libvirt.pool} p2v.network=${libvirt.network}`);
      oneLine(
        inactive,
        new RegExp(
          `^virt-p2v: error: the libvirt pool "${libvirt.pool}" on the server is not active`,
        ),
      );
    } finally {
      await sshd.stop();
      await libvirt.stop("target");
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});
