// `npm run openapi`: writes docs/openapi.json from the route schemas. A test
// fails when the committed file and the served document differ.
import { writeFileSync } from "node:fs";
import { createApp } from "../src/app";
import { OPENAPI_CONFIG } from "../src/openapi";

const document = createApp().getOpenAPI31Document(OPENAPI_CONFIG);
writeFileSync("docs/openapi.json", `${JSON.stringify(document, null, "\t")}\n`);
console.log(`wrote docs/openapi.json (${Object.keys(document.paths ?? {}).length} paths)`);
