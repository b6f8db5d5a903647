// A small validator for the JSON-schema subset of the Azure DevOps OpenAPI 2.0 specs, and lookup of an operation's answer schema.
import { readFileSync } from 'node:fs';

export type Schema = {
  $ref?: string;
  type?: string;
  format?: string;
  enum?: unknown[];
  allOf?: Schema[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
};

interface Operation {
  parameters?: { name?: string; in?: string; $ref?: string }[];
  responses: Record<string, { schema?: Schema }>;
}

export interface Spec {
  paths: Record<string, Record<string, Operation>>;
  'x-ms-paths'?: Record<string, Record<string, Operation>>;
  definitions: Record<string, Schema>;
}

// Microsoft's published REST specs (MIT, LICENSE beside them), kept in the repository so a clone anywhere has them.
export const SPEC_DIR = new URL('../contract/specs', import.meta.url).pathname;

export function loadSpec(file: string, overrides: Record<string, Schema> = {}): Spec {
  const spec = JSON.parse(readFileSync(`${SPEC_DIR}/${file}`, 'utf8')) as Spec;
  Object.assign(spec.definitions, overrides);
  return spec;
}

/** The operation a request maps to: path template + method; among x-ms-paths variants, the one declaring most of the query names. */
export function findOperation(spec: Spec, method: string, path: string, query: string[]): { template: string; operation: Operation } {
  const candidates: { template: string; operation: Operation; score: number }[] = [];
  for (const [template, operations] of Object.entries({ ...spec.paths, ...spec['x-ms-paths'] })) {
    const pattern = new RegExp(`^${template.replace(/\?$/, '').replace(/\{[^}]+\}/g, '[^/]+')}$`, 'i');
    const operation = operations[method.toLowerCase()];
    if (!operation || !pattern.test(path)) continue;
    const declared = new Set((operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name?.toLowerCase()));
    candidates.push({ template, operation, score: query.filter((name) => declared.has(name.toLowerCase())).length });
  }
  const best = candidates.sort((a, b) => b.score - a.score)[0];
  if (!best) throw new Error(`The spec has no ${method} ${path}`);
  return best;
}

export function queryNames(operation: Operation): string[] {
  return (operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name ?? '');
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Validates `value` against `schema`, returning error strings. Strict about names: a property the schema does not declare is
 * an error (that catches wrong casing). null is accepted for optional members, as the service writes null members.
 */
export function validate(spec: Spec, schema: Schema, value: unknown, at = '$'): string[] {
  if (schema.$ref) {
    const name = schema.$ref.replace('#/definitions/', '');
    const target = spec.definitions[name];
    if (!target) return [`${at}: unresolved $ref ${schema.$ref}`];
    return validate(spec, { ...target, ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$ref' && k !== 'description')) }, value, at);
  }
  if (value === null) return [];
  const errors: string[] = [];
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${at}: ${JSON.stringify(value)} is not one of ${schema.enum.join(', ')}`);
  const type = schema.type ?? (schema.properties || schema.allOf ? 'object' : undefined);
  switch (type) {
    case 'string':
      if (typeof value !== 'string') return [`${at}: expected string, got ${typeof value}`];
      if (schema.format === 'date-time' && !DATE_TIME.test(value)) errors.push(`${at}: not a date-time: ${value}`);
      if (schema.format === 'uuid' && !UUID.test(value)) errors.push(`${at}: not a uuid: ${value}`);
      break;
    case 'integer':
      if (!Number.isInteger(value)) errors.push(`${at}: expected integer, got ${JSON.stringify(value)}`);
      break;
    case 'number':
      if (typeof value !== 'number') errors.push(`${at}: expected number`);
      break;
    case 'boolean':
      if (typeof value !== 'boolean') errors.push(`${at}: expected boolean, got ${JSON.stringify(value)}`);
      break;
    case 'array':
      if (!Array.isArray(value)) return [`${at}: expected array`];
      value.forEach((item, index) => errors.push(...validate(spec, schema.items ?? {}, item, `${at}[${index}]`)));
      break;
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return [`${at}: expected object`];
      const properties = collectProperties(spec, schema);
      for (const [key, member] of Object.entries(value as Record<string, unknown>)) {
        const declared = properties[key];
        if (declared) errors.push(...validate(spec, declared, member, `${at}.${key}`));
        else if (typeof schema.additionalProperties === 'object') errors.push(...validate(spec, schema.additionalProperties, member, `${at}.${key}`));
        else if (schema.additionalProperties !== true && Object.keys(properties).length > 0) errors.push(`${at}: undeclared member "${key}"`);
      }
      break;
    }
    default:
  }
  return errors;
}

/** Properties of a schema including those it inherits through allOf. */
function collectProperties(spec: Spec, schema: Schema): Record<string, Schema> {
  let properties: Record<string, Schema> = { ...schema.properties };
  for (const part of schema.allOf ?? []) {
    const resolved = part.$ref ? spec.definitions[part.$ref.replace('#/definitions/', '')] : part;
    if (resolved) properties = { ...collectProperties(spec, resolved), ...properties };
  }
  return properties;
}
