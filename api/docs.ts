/**
 * A human-readable page at /docs rendered from the OpenAPI document: one self-contained HTML file with inline
 * CSS and no scripts, because the network is closed (no CDN for Swagger UI) and a page that reads the same
 * document cannot disagree with it.
 */
import type { OpenApiDocument } from './openapi';

type Json = unknown;

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

const pretty = (value: Json): string => escapeHtml(JSON.stringify(value, null, 2));

interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string; required?: boolean; description?: string; schema?: Json }[];
  requestBody?: { content?: Record<string, { schema?: Json }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Json }> }>;
}

function renderParameters(parameters: Operation['parameters']): string {
  if (!parameters?.length) return '';
  const rows = parameters
    .map(
      (p) =>
        `<tr><td><code>${escapeHtml(p.name)}</code></td><td>${escapeHtml(p.in)}</td>` +
        `<td>${p.required ? 'yes' : 'no'}</td><td>${escapeHtml(p.description ?? '')}</td>` +
        `<td><code>${escapeHtml(JSON.stringify(p.schema ?? {}))}</code></td></tr>`,
    )
    .join('');
  return `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>required</th><th>description</th><th>schema</th></tr>${rows}</table>`;
}

function renderContent(content: Record<string, { schema?: Json }> | undefined): string {
  if (!content) return '';
  return Object.entries(content)
    .map(
      ([type, media]) =>
        `<div class="media">${escapeHtml(type)}</div><pre>${pretty(media.schema ?? {})}</pre>`,
    )
    .join('');
}

function renderOperation(method: string, path: string, op: Operation): string {
  const auth = op.security?.length ? 'Bearer token' : 'none';
  const responses = Object.entries(op.responses ?? {})
    .map(
      ([status, response]) =>
        `<li><b>${escapeHtml(status)}</b> ${escapeHtml(response.description ?? '')}${renderContent(response.content)}</li>`,
    )
    .join('');
  const anchor = `${method}-${path}`.replace(/[^A-Za-z0-9]+/g, '-');
  return `<section class="op" id="${anchor}">
<h3><span class="method ${method}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h3>
<p>${escapeHtml(op.summary ?? '')}</p>${op.description ? `<p>${escapeHtml(op.description)}</p>` : ''}
<p class="auth">Authentication: ${auth}</p>
${renderParameters(op.parameters)}
${op.requestBody ? `<h4>Request body</h4>${renderContent(op.requestBody.content)}` : ''}
<h4>Responses</h4><ul>${responses}</ul></section>`;
}

export function renderDocsHtml(document: OpenApiDocument): string {
  const operations: { method: string; path: string; op: Operation }[] = [];
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const [method, op] of Object.entries(item as Record<string, Operation>)) {
      operations.push({ method, path, op });
    }
  }
  operations.sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
  const index = operations
    .map(({ method, path, op }) => {
      const anchor = `${method}-${path}`.replace(/[^A-Za-z0-9]+/g, '-');
      return `<li><a href="#${anchor}"><span class="method ${method}">${method.toUpperCase()}</span> ${escapeHtml(path)}</a> ${escapeHtml(op.summary ?? '')}</li>`;
    })
    .join('');
  const schemas = pretty(document.components?.schemas ?? {});
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(document.info.title)}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
code,pre{font:13px ui-monospace,monospace}pre{background:#f6f6f6;padding:.6em;overflow:auto}
.method{display:inline-block;min-width:3.5em;text-align:center;border-radius:3px;color:#fff;font-size:12px;padding:1px 4px}
.get{background:#2b7bb9}.post{background:#2f9e44}.put,.patch{background:#e67700}.delete{background:#c92a2a}
.op{border-top:1px solid #ddd;margin-top:1.5em}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}
.media{color:#666;font-size:12px}.auth{color:#555}
</style></head><body>
<h1>${escapeHtml(document.info.title)} <small>${escapeHtml(document.info.version)}</small></h1>
<p>${escapeHtml(document.info.description ?? '')}</p>
<p>Machine-readable contract: <a href="/openapi.json">/openapi.json</a> (OpenAPI ${escapeHtml(document.openapi)}).</p>
<h2>Operations</h2><ul>${index}</ul>
${operations.map(({ method, path, op }) => renderOperation(method, path, op)).join('\n')}
<h2>Schemas</h2><pre>${schemas}</pre>
</body></html>`;
}
