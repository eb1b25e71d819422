// `npm run openapi`: writes docs/openapi.json (the native API) and
// docs/svix-openapi.json (the Svix-compatible face) from the route schemas.
// A test fails when a committed file and the served document differ.
import { writeFileSync } from "node:fs";
import { createApp } from "../src/app";
import { OPENAPI_CONFIG } from "../src/openapi";
import { createSvixFace, SVIX_OPENAPI_CONFIG } from "../src/svix";

function write(path: string, document: { paths?: object }): void {
	writeFileSync(path, `${JSON.stringify(document, null, "\t")}\n`);
	console.log(`wrote ${path} (${Object.keys(document.paths ?? {}).length} paths)`);
}

write("docs/openapi.json", createApp().getOpenAPI31Document(OPENAPI_CONFIG));
// The face's description does not depend on what it calls, so no worker is needed to write it.
write(
	"docs/svix-openapi.json",
	createSvixFace(() => new Response(null, { status: 501 })).getOpenAPI31Document(SVIX_OPENAPI_CONFIG),
);
