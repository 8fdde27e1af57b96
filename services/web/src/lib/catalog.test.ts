import { describe, expect, it } from 'vitest';
import type { CatalogModel } from './catalog';
import { EMPTY_FORM, FormError, formFieldOf, formToBody, modelToForm, parseParams, shortId } from './catalog';

describe('parseParams', () => {
  it('reads JSON and flat YAML', () => {
    expect(parseParams('')).toEqual({});
    expect(parseParams('{"max_tokens": 256, "stop": ["\\n"]}')).toEqual({ max_tokens: 256, stop: ['\n'] });
    expect(
      parseParams("max_tokens: 256\ntemperature: 0.5\n# a comment\nsample: true\nmode: greedy  # why\nstop: [\"x\"]\nq: 'it''s'\nnone: null"),
    ).toEqual({ max_tokens: 256, temperature: 0.5, sample: true, mode: 'greedy', stop: ['x'], q: "it's", none: null });
  });

  it('names the line it cannot read', () => {
    expect(() => parseParams('a: 1\nnested:\n  b: 2')).toThrow(/params line 2/);
    expect(() => parseParams('a: [1,')).toThrow(/params line 1/);
    expect(() => parseParams('{"a": ')).toThrow(FormError);
    expect(() => parseParams('[1]')).toThrow(/line 1/);
  });
});

describe('form <-> body', () => {
  it('puts env, GPUs and params in the spec, weights by kind', () => {
    const body = formToBody({
      ...EMPTY_FORM,
      name: ' my-vlm ',
      backend: 'vllm',
      weightsKind: 'hf_id',
      weights: 'Qwen/Qwen2-VL-2B',
      envKind: 'docker',
      envImage: 'vlmhb/vllm:latest',
      gpus: '1',
      gpuMemoryGb: '16.5',
      version: '2',
      notes: 'n',
      params: 'max_tokens: 64',
    });
    expect(body).toEqual({
      name: 'my-vlm',
      backend: 'vllm',
      weights: { hf_id: 'Qwen/Qwen2-VL-2B' },
      gpu_memory_gb: 16.5,
      version: '2',
      notes: 'n',
      spec: { params: { max_tokens: 64 }, resources: { gpus: 1 }, env: { kind: 'docker', image: 'vlmhb/vllm:latest' } },
    });
    expect(formToBody({ ...EMPTY_FORM, name: 'x', backend: 'scripted' })).toEqual({
      name: 'x',
      backend: 'scripted',
      weights: {},
      gpu_memory_gb: null,
      version: '',
      notes: '',
      spec: {},
    });
  });

  it('refuses a bad number naming its field', () => {
    const error = (() => {
      try {
        formToBody({ ...EMPTY_FORM, gpus: '1.5' });
      } catch (e) {
        return e as FormError;
      }
    })();
    expect(error?.field).toBe('gpus');
    expect(() => formToBody({ ...EMPTY_FORM, gpuMemoryGb: '-1' })).toThrow(/gpu_memory_gb/);
  });

  it('edits a model keeping the spec fields the form does not show', () => {
    const model: CatalogModel = {
      name: 'm',
      source: 'catalog',
      backend: 'scripted',
      weights: { s3_uri: 's3://b/m' },
      gpu_memory_gb: 8,
      version: '1',
      notes: '',
      spec: { params: { latency_ms: 5 }, concurrency: 8, resources: { gpus: 2, memory: '4g' }, env: { kind: 'docker' } },
      editable: true,
    };
    const form = modelToForm(model);
    expect(form).toMatchObject({ weightsKind: 's3_uri', weights: 's3://b/m', gpus: '2', gpuMemoryGb: '8', envKind: 'docker' });
    expect(JSON.parse(form.params)).toEqual({ latency_ms: 5 });
    const { name, backend, weights, gpu_memory_gb, version, notes, spec } = model;
    expect(formToBody(form)).toEqual({ name, backend, weights, gpu_memory_gb, version, notes, spec });
  });
});

describe('formFieldOf', () => {
  it('maps the API message to the form field', () => {
    expect(formFieldOf("field 'env.image': 'evil/image' is not in the allowed images")).toBe('envImage');
    expect(formFieldOf("field 'env.kind': unknown env kind")).toBe('envKind');
    expect(formFieldOf("field 'params.answers_file': Field required")).toBe('params');
    expect(formFieldOf("field 'spec.resources.gpus': must be >= 0")).toBe('gpus');
    expect(formFieldOf("field 'name': renaming is not supported")).toBe('name');
    expect(formFieldOf('body.gpu_memory_gb: Input should be greater than or equal to 0')).toBe('gpuMemoryGb');
    expect(formFieldOf("'scripted' is a registry preset: pick another name")).toBeNull();
  });
});

describe('shortId', () => {
  it('shortens ids and digests', () => {
    expect(shortId('sha256:0123456789abcdef0123')).toBe('sha256:0123456789ab');
    expect(shortId('vlmhb/base-cpu@sha256:fedcba9876543210')).toBe('sha256:fedcba987654');
    expect(shortId('0123456789abcdef')).toBe('0123456789ab');
  });
});
