// Prompt templates: "dashcam photo, a {hazard} on the road at {timeOfDay}, {weather}". A field is {name} (a
// parameter name); "{{" and "}}" are literal braces; any other brace is an error naming its position.
import type { ScenarioParameters } from "../condition.ts";

const FIELD = /^[A-Za-z][A-Za-z0-9_]*$/;

export class PromptTemplateError extends Error {
  override readonly name = "PromptTemplateError";
}

type Piece = { text: string } | { field: string };

function parseTemplate(template: string): Piece[] {
  const pieces: Piece[] = [];
  let text = "";
  for (let i = 0; i < template.length; i++) {
    const ch = template[i];
    if ((ch === "{" || ch === "}") && template[i + 1] === ch) {
      text += ch;
      i++;
    } else if (ch === "{") {
      const end = template.indexOf("}", i);
      const name = end < 0 ? "" : template.slice(i + 1, end);
      if (!FIELD.test(name)) throw new PromptTemplateError(`prompt template: "{" at position ${i} does not open a {field} (a parameter name; write "{{" for a literal brace)`);
      if (text) pieces.push({ text });
      text = "";
      pieces.push({ field: name });
      i = end;
    } else if (ch === "}") {
      throw new PromptTemplateError(`prompt template: "}" at position ${i} closes no field (write "}}" for a literal brace)`);
    } else text += ch;
  }
  if (text) pieces.push({ text });
  return pieces;
}

/** The distinct fields a template uses, in order of first use; throws PromptTemplateError on a malformed template. */
export function templateFields(template: string): string[] {
  return [...new Set(parseTemplate(template).flatMap((p) => ("field" in p ? [p.field] : [])))];
}

/** A number as a prompt reads it: at most 4 significant digits, no trailing zeros (0.30000000000000004 -> "0.3"). */
const promptNumber = (value: number) => String(Number(value.toPrecision(4)));

/** Fills a template with drawn parameters; a field without a parameter is an error naming it. */
export function renderPrompt(template: string, parameters: ScenarioParameters): string {
  return parseTemplate(template)
    .map((piece) => {
      if ("text" in piece) return piece.text;
      const value = parameters[piece.field];
      if (value === undefined) throw new PromptTemplateError(`prompt template uses {${piece.field}}, which is not a parameter (given: ${Object.keys(parameters).join(", ") || "none"})`);
      return typeof value === "number" ? promptNumber(value) : value;
    })
    .join("");
}
