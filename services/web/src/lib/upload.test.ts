import { describe, expect, it } from 'vitest';
import { LEGACY_FILES, classifyUpload, legacyField, legacyForm } from './upload';

const file = (name: string, text = 'x') => new File([text], name);

describe('uploaded files', () => {
  it('takes one experiment file for the editor', () => {
    const yaml = file('exp.YML');
    expect(classifyUpload([yaml])).toEqual({ kind: 'config', file: yaml });
    expect(classifyUpload([file('a.json')]).kind).toBe('config');
    expect(classifyUpload([file('a.yaml'), file('b.yaml')])).toMatchObject({ kind: 'invalid' });
    expect(classifyUpload([file('notes.txt')])).toMatchObject({
      kind: 'invalid',
      message: expect.stringContaining('notes.txt: expected an experiment .yaml/.yml/.json'),
    });
    expect(classifyUpload([])).toMatchObject({ kind: 'invalid' });
  });

  it('takes the legacy pair by name, and says which file is missing', () => {
    const user = file('user_config_gpu.csv');
    const base = file('vlm_base.csv');
    expect(classifyUpload([base, user])).toEqual({
      kind: 'legacy',
      files: { 'user_config.csv': user, 'vlm_base.csv': base },
      missing: [],
    });
    expect(classifyUpload([user])).toMatchObject({ kind: 'legacy', missing: ['vlm_base.csv'] });
    expect(legacyField('VLM_BASE.CSV')).toBe('vlm_base.csv');
    expect(legacyField('models.csv')).toBeUndefined();
  });

  it('refuses files that are not part of the pair', () => {
    expect(classifyUpload([file('user_config.csv'), file('exp.yaml')])).toEqual({
      kind: 'invalid',
      message: 'exp.yaml: a legacy upload is user_config.csv + vlm_base.csv only',
    });
    expect(classifyUpload([file('user_config.csv'), file('other.csv')])).toMatchObject({ kind: 'invalid' });
    expect(classifyUpload([file('user_config.csv'), file('user_config_2.csv')])).toMatchObject({
      kind: 'invalid',
      message: 'two files for user_config.csv: user_config.csv, user_config_2.csv',
    });
  });

  it('sends each file under its field name, a missing one left out', async () => {
    const form = legacyForm({ 'user_config.csv': file('user_config_gpu.csv', 'cells') });
    expect([...form.keys()]).toEqual([LEGACY_FILES[0]]);
    const sent = form.get('user_config.csv') as File;
    expect(sent.name).toBe('user_config.csv');
    expect(await sent.text()).toBe('cells');
  });
});
