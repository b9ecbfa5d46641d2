/**
 * The health and metrics listeners on an unspecified address answer on both families in a
 * namespace where `net.ipv6.bindv6only` is 1 (an IPv6 socket takes no IPv4 there): serveHttp()
 * then adds an IPv4 socket on the same port (see proxy/listen.ts).
 *
 * @module
 */

import { assertEquals } from "../assert.ts";
import { CHILD_ENV } from "../sandbox/command.ts";
import { isRoot, withScratchNetns } from "./runtime_netns.ts";

Deno.test({
  name: "serveHttp() on 0.0.0.0 answers on 127.0.0.1 and [::1] also with bindv6only=1",
  ignore: !isRoot,
  fn: () =>
    withScratchNetns(async (ns) => {
      await ns.sh("sysctl", "-qw", "net.ipv6.bindv6only=1");
      const listen = new URL("../../proxy/listen.ts", import.meta.url).href;
      const script = `
        import { serveHttp } from ${JSON.stringify(listen)};
        const l = serveHttp({ bindAddress: "0.0.0.0:0", handler: () => new Response("up") });
        const answers = [];
        for (const host of ["127.0.0.1", "[::1]"]) {
          answers.push(await (await fetch("http://" + host + ":" + l.port + "/")).text());
        }
        await l.shutdown();
        console.log(JSON.stringify({ hostnames: l.hostnames, answers }));
      `;
      const out = await new Deno.Command("ip", {
        args: [
          "netns",
          "exec",
          ns.name,
          Deno.execPath(),
          "eval",
          "--config",
          new URL("../../deno.json", import.meta.url).pathname,
          script,
        ],
        env: CHILD_ENV,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const d = new TextDecoder();
      assertEquals(out.code, 0, d.decode(out.stderr));
      assertEquals(JSON.parse(d.decode(out.stdout)), {
        hostnames: ["::", "0.0.0.0"],
        answers: ["up", "up"],
      });
    }),
});
