/**
 * Generates, with Debian's `openssl`, a throwaway CA, a server certificate for the fixture's
 * addresses, and a client certificate, all signed by that CA.
 *
 * @module
 */

/** PEM texts of a generated CA and the certificates it signed. */
export interface FixtureCertificates {
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** A client certificate (CN=kube-proxy, O=system:node-proxier) for client-cert auth. */
  readonly clientCert: string;
  readonly clientKey: string;
}

async function runOpenssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr);
    throw new Error(`Cannot generate test certificates: openssl ${args[0]} failed: ${err}`);
  }
}

function isIP(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(":");
}

/**
 * Generates a CA plus server and client certificates.
 *
 * @param hosts Names and IPs the server certificate must be valid for (127.0.0.1, ::1 and
 *   localhost are always included).
 * @returns the PEM texts.
 * @throws {Error} when openssl fails.
 */
export async function generateCertificates(hosts: readonly string[]): Promise<FixtureCertificates> {
  const dir = await Deno.makeTempDir({ prefix: "kpcache-certs-" });
  try {
    const all = new Set(["127.0.0.1", "::1", "localhost", ...hosts]);
    all.delete("0.0.0.0");
    all.delete("::");
    const san = [...all].map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(",");
    await Deno.writeTextFile(
      `${dir}/server.ext`,
      `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n` +
        `keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`,
    );
    await Deno.writeTextFile(
      `${dir}/client.ext`,
      `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n` +
        `extendedKeyUsage=clientAuth\n`,
    );
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await runOpenssl([
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "3650",
      "-subj",
      "/CN=kpcache-fixture-ca",
    ], dir);
    for (
      const [who, subj] of [["server", "/CN=kube-apiserver"], [
        "client",
        "/O=system:node-proxier/CN=kube-proxy",
      ]]
    ) {
      await runOpenssl(
        ["req", ...ec, "-keyout", `${who}.key`, "-out", `${who}.csr`, "-subj", subj],
        dir,
      );
      await runOpenssl([
        "x509",
        "-req",
        "-in",
        `${who}.csr`,
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        `${who}.crt`,
        "-days",
        "3650",
        "-extfile",
        `${who}.ext`,
      ], dir);
    }
    const read = (f: string) => Deno.readTextFile(`${dir}/${f}`);
    return {
      caCert: await read("ca.crt"),
      serverCert: await read("server.crt"),
      serverKey: await read("server.key"),
      clientCert: await read("client.crt"),
      clientKey: await read("client.key"),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
