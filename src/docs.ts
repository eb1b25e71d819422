import type { OpenAPIHono } from "@hono/zod-openapi";

type OpenApiDocument = ReturnType<OpenAPIHono["getOpenAPI31Document"]>;

function escapeHtml(text: string): string {
	return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function schemaName(schema: unknown): string {
	if (typeof schema !== "object" || schema === null) return "";
	const ref = (schema as { $ref?: unknown }).$ref;
	return typeof ref === "string" ? ref.replace("#/components/schemas/", "") : "inline";
}

/**
 * The API reference as one self-contained page, rendered from the same
 * OpenAPI document as /openapi.json. No script or CDN asset, so it works on
 * a machine without internet access.
 */
export function renderDocsPage(document: OpenApiDocument): string {
	const sections: string[] = [];
	for (const [path, item] of Object.entries(document.paths ?? {})) {
		for (const method of ["get", "post", "patch", "put", "delete"] as const) {
			const operation = item?.[method];
			if (!operation) continue;
			const parameters = (operation.parameters ?? [])
				.map((parameter) =>
					"name" in parameter ? `<code>${escapeHtml(parameter.in)}:${escapeHtml(parameter.name)}</code>` : "",
				)
				.join(" ");
			const body =
				operation.requestBody && "content" in operation.requestBody
					? schemaName(operation.requestBody.content["application/json"]?.schema)
					: "";
			const responses = Object.entries(operation.responses ?? {})
				.map(([status, response]) => {
					const schema = "content" in response ? schemaName(response.content?.["application/json"]?.schema) : "";
					return `<li><b>${escapeHtml(status)}</b> ${escapeHtml("description" in response ? (response.description ?? "") : "")}${schema ? ` <code>${escapeHtml(schema)}</code>` : ""}</li>`;
				})
				.join("");
			sections.push(`<section id="${escapeHtml(`${method}-${path}`)}">
<h3><span class="method ${method}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h3>
<p>${escapeHtml(operation.summary ?? "")}</p>${operation.description ? `<p>${escapeHtml(operation.description)}</p>` : ""}
${parameters ? `<p>Parameters: ${parameters}</p>` : ""}${body ? `<p>Body: <code>${escapeHtml(body)}</code></p>` : ""}
<ul>${responses}</ul>
</section>`);
		}
	}
	const schemas = Object.entries(document.components?.schemas ?? {})
		.map(
			([name, schema]) =>
				`<details id="schema-${escapeHtml(name)}"><summary><code>${escapeHtml(name)}</code></summary><pre>${escapeHtml(JSON.stringify(schema, null, 2))}</pre></details>`,
		)
		.join("\n");
	return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(document.info.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
section{border-top:1px solid #ddd;padding:.5rem 0}
.method{display:inline-block;min-width:4.5em;font-size:.8em;padding:.1em .4em;border-radius:4px;color:#fff;background:#555;text-align:center}
.get{background:#2a7ae2}.post{background:#2e9d5b}.patch{background:#c77c02}.delete{background:#c0392b}
pre{background:#f6f8fa;padding:.75rem;overflow:auto}
</style></head><body>
<h1>${escapeHtml(document.info.title)} <small>${escapeHtml(document.info.version)}</small></h1>
<p>${escapeHtml(document.info.description ?? "")}</p>
<p>Authenticate with <code>Authorization: Bearer &lt;API key&gt;</code>. The machine-readable document is at <a href="/openapi.json">/openapi.json</a>.</p>
<h2>Operations</h2>
${sections.join("\n")}
<h2>Schemas</h2>
${schemas}
</body></html>`;
}
