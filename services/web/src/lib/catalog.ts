// The catalogs (docs/hosts.md "API"): models an experiment picks by name, and the stage
// images on each host. Shapes, and the model form <-> API body conversion.

import type { components } from './api-types';

type Schemas = components['schemas'];

/** A model of ``GET /catalog/models``: a registry preset (read-only) or a catalog model. */
export type CatalogModel = Schemas['CatalogModelOut'];
/** The body of ``POST /catalog/models`` and ``PUT /catalog/models/{name}``. */
export type CatalogModelBody = Schemas['CatalogModelIn'];
export type ImageContents = Schemas['ImageContents'];
export type ImageRow = Schemas['ImageRow'];
export type HostImages = Schemas['HostImages'];
/** An agent's image build or pull job. */
export type ImageJob = Schemas['ImageJob'];

export const WEIGHT_KINDS = ['path', 'hf_id', 's3_uri'] as const;
export type WeightKind = (typeof WEIGHT_KINDS)[number];

/** The model form's fields, all text (as typed). */
export interface ModelForm {
  name: string;
  backend: string;
  weightsKind: WeightKind;
  weights: string;
  envKind: string;
  envImage: string;
  gpus: string;
  gpuMemoryGb: string;
  version: string;
  notes: string;
  params: string;
  /** the spec's other fields (load, concurrency, ...), kept as they were on an edit */
  rest: Record<string, unknown>;
}

export const EMPTY_FORM: ModelForm = {
  name: '',
  backend: '',
  weightsKind: 'path',
  weights: '',
  envKind: '',
  envImage: '',
  gpus: '',
  gpuMemoryGb: '',
  version: '',
  notes: '',
  params: '',
  rest: {},
};

/** A form problem: ``field`` is the form field it belongs to. */
export class FormError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = 'FormError';
    this.field = field;
  }
}

function scalar(text: string): unknown {
  const t = text.trim();
  if (t === '' || t === '~' || t === 'null') return null;
  if (t === 'true' || t === 'false') return t === 'true';
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t)) return Number(t);
  if (/^["[{]/.test(t)) return JSON.parse(t);
  if (t.startsWith("'") && t.endsWith("'")) return t.slice(1, -1).replace(/''/g, "'");
  return t;
}

/** Params typed as JSON (``{...}``) or as flat YAML (``key: value`` lines; a value may be
 * JSON: ``[1, 2]``, ``{"a": 1}``, ``"text"``). Nested YAML blocks are refused with their line. */
export function parseParams(text: string): Record<string, unknown> {
  const source = text.trim();
  if (!source) return {};
  if (source.startsWith('{')) {
    let value: unknown;
    try {
      value = JSON.parse(source);
    } catch (exc) {
      throw new FormError('params', `params: not valid JSON (${(exc as Error).message})`);
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      throw new FormError('params', 'params: a JSON object is needed');
    }
    return value as Record<string, unknown>;
  }
  const out: Record<string, unknown> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\s+#.*$/, '');
    if (!line.trim() || line.trim().startsWith('#')) return;
    const match = /^([A-Za-z_][A-Za-z0-9_.-]*):(?:\s+(.*))?$/.exec(line);
    if (!match || /^\s/.test(line) || match[2] === undefined) {
      throw new FormError(
        'params',
        `params line ${i + 1}: expected "key: value" (nested values as JSON, e.g. key: {"a": 1})`,
      );
    }
    try {
      out[match[1]] = scalar(match[2]);
    } catch (exc) {
      throw new FormError('params', `params line ${i + 1}: ${(exc as Error).message}`);
    }
  });
  return out;
}

function optionalNumber(field: string, text: string, integer: boolean): number | null {
  const t = text.trim();
  if (!t) return null;
  const n = Number(t);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
    throw new FormError(field, `${field}: ${integer ? 'a whole number' : 'a number'} ≥ 0 is needed`);
  }
  return n;
}

/** The API body for a filled-in form (``FormError`` names the field that is wrong). */
export function formToBody(form: ModelForm): CatalogModelBody {
  const spec: Record<string, unknown> = { ...form.rest };
  const params = parseParams(form.params);
  if (Object.keys(params).length) spec.params = params;
  else delete spec.params;
  const gpus = optionalNumber('gpus', form.gpus, true);
  const resources = { ...((spec.resources as Record<string, unknown> | undefined) ?? {}) };
  if (gpus != null) resources.gpus = gpus;
  else delete resources.gpus;
  if (Object.keys(resources).length) spec.resources = resources;
  else delete spec.resources;
  const env: Record<string, string> = {};
  if (form.envKind.trim()) env.kind = form.envKind.trim();
  if (form.envImage.trim()) env.image = form.envImage.trim();
  if (Object.keys(env).length) spec.env = env;
  else delete spec.env;
  return {
    name: form.name.trim(),
    backend: form.backend.trim(),
    weights: form.weights.trim() ? { [form.weightsKind]: form.weights.trim() } : {},
    gpu_memory_gb: optionalNumber('gpu_memory_gb', form.gpuMemoryGb, false),
    version: form.version.trim(),
    notes: form.notes,
    spec,
  };
}

/** The form for editing a catalog model. */
export function modelToForm(model: CatalogModel): ModelForm {
  const { params, env, resources, ...rest } = model.spec as {
    params?: Record<string, unknown>;
    env?: { kind?: string; image?: string };
    resources?: Record<string, unknown>;
  } & Record<string, unknown>;
  const { gpus, ...otherResources } = resources ?? {};
  if (Object.keys(otherResources).length) rest.resources = otherResources;
  const weightsKind = (WEIGHT_KINDS.find((k) => k in model.weights) ?? 'path') as WeightKind;
  return {
    name: model.name,
    backend: model.backend,
    weightsKind,
    weights: model.weights[weightsKind] ?? '',
    envKind: env?.kind ?? '',
    envImage: env?.image ?? '',
    gpus: gpus == null ? '' : String(gpus),
    gpuMemoryGb: model.gpu_memory_gb == null ? '' : String(model.gpu_memory_gb),
    version: model.version,
    notes: model.notes,
    params: params && Object.keys(params).length ? JSON.stringify(params, null, 2) : '',
    rest,
  };
}

/** The form field an API message is about (``field 'env.image': ...`` → ``envImage``). */
export function formFieldOf(message: string): keyof ModelForm | null {
  const quoted = /field '([^']+)'/.exec(message)?.[1];
  const path = quoted ?? /^body\.([A-Za-z0-9_.]+):/.exec(message)?.[1];
  if (!path) return null;
  const parts = path.replace(/^spec\./, '').split('.');
  switch (parts[0]) {
    case 'name':
      return 'name';
    case 'backend':
      return 'backend';
    case 'weights':
    case 'model_path':
    case 'model':
      return 'weights';
    case 'env':
      return parts[1] === 'kind' ? 'envKind' : 'envImage';
    case 'resources':
      return 'gpus';
    case 'gpu_memory_gb':
      return 'gpuMemoryGb';
    case 'version':
      return 'version';
    case 'notes':
      return 'notes';
    default:
      return 'params';
  }
}

/** The short form of an image id or digest: ``repo@sha256:<hex>`` → ``sha256:<12 hex>``. */
export function shortId(id: string): string {
  const bare = id.includes('@') ? id.slice(id.lastIndexOf('@') + 1) : id;
  const colon = bare.lastIndexOf(':');
  return colon < 0 ? bare.slice(0, 12) : `${bare.slice(0, colon + 1)}${bare.slice(colon + 1, colon + 13)}`;
}
