/**
 * The part of the OpenAPI v3 documents (`/openapi/v3`, `/openapi/v3/{api/v1|apis/{g}/{v}}`) that
 * kubectl reads before `apply`, `create` and `edit`: for every served kind, a PATCH operation
 * marked with the kind (`x-kubernetes-group-version-kind`) that takes the `fieldValidation` query
 * parameter. That tells kubectl the server validates fields itself, so it skips its client-side
 * schema validation (which would need the full schemas this fixture does not have), and, with no
 * request body schema, it builds strategic merge patches from its compiled-in types.
 *
 * Older kubectl (Debian 12 ships 1.20) reads `/openapi/v2` instead, as protobuf: an empty
 * document (zero bytes) holds no schema for any kind, so it skips client-side validation as well.
 *
 * @module
 */

import type { RawObject } from "./errors.ts";
import { RESOURCE_TYPES, type ResourceType } from "./resources.ts";

/** `api/v1` or `apis/{group}/{version}`: the key of a group version in the root document. */
function gvPath(apiVersion: string): string {
  return apiVersion.includes("/") ? `apis/${apiVersion}` : `api/${apiVersion}`;
}

function patchPath(type: ResourceType): [string, RawObject] {
  const [group, version] = type.apiVersion.includes("/")
    ? type.apiVersion.split("/")
    : ["", type.apiVersion];
  const scope = type.namespaced ? "namespaces/{namespace}/" : "";
  return [`/${gvPath(type.apiVersion)}/${scope}${type.plural}/{name}`, {
    patch: {
      operationId: `patch${type.kind}`,
      parameters: [{ name: "fieldValidation", in: "query", schema: { type: "string" } }],
      responses: { "200": { description: "OK" } },
      "x-kubernetes-action": "patch",
      "x-kubernetes-group-version-kind": { group, version, kind: type.kind },
    },
  }];
}

/**
 * The OpenAPI v3 document of a path, or undefined when there is none.
 *
 * @param pathname `/openapi/v3` (the root listing) or `/openapi/v3/{gv path}`.
 * @returns the document.
 */
export function openApiDocument(pathname: string): RawObject | undefined {
  const path = pathname.replace(/\/+$/, "");
  const versions = [...new Set(RESOURCE_TYPES.map((t) => t.apiVersion))];
  if (path === "/openapi/v3") {
    return {
      paths: Object.fromEntries(versions.map((v) => [
        gvPath(v),
        { serverRelativeURL: `/openapi/v3/${gvPath(v)}` },
      ])),
    };
  }
  const version = versions.find((v) => path === `/openapi/v3/${gvPath(v)}`);
  if (version === undefined) return undefined;
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes API server fixture", version: "v1.31.0-fixture" },
    paths: Object.fromEntries(
      RESOURCE_TYPES.filter((t) => t.apiVersion === version).map(patchPath),
    ),
  };
}

/**
 * The `/openapi/v2` answer: an empty protobuf `Document` (see the module comment).
 *
 * @returns the response.
 */
export function openApiV2Response(): Response {
  // Not the media type kubectl asks for: Go's mime parser refuses the "@" in it.
  return new Response(new Uint8Array(0), {
    headers: { "content-type": "application/octet-stream" },
  });
}
