// Files a user gives the New-experiment page: one YAML/JSON experiment (read into the
// editor), or the legacy v0.1 pair user_config.csv + vlm_base.csv (sent as the multipart
// upload the API takes, under those two field names).

/** The form fields of the legacy upload (the API's multipart field names). */
export const LEGACY_FILES = ['user_config.csv', 'vlm_base.csv'] as const;
export type LegacyName = (typeof LEGACY_FILES)[number];

const CONFIG_SUFFIXES = ['.yaml', '.yml', '.json'];

export type Upload =
  | { kind: 'config'; file: File }
  | { kind: 'legacy'; files: Partial<Record<LegacyName, File>>; missing: LegacyName[] }
  | { kind: 'invalid'; message: string };

/** The legacy field a CSV file fills, by its name (``user_config_2.csv`` is a user config). */
export function legacyField(name: string): LegacyName | undefined {
  const lower = name.toLowerCase();
  if (!lower.endsWith('.csv')) return undefined;
  return LEGACY_FILES.find((field) => lower.startsWith(field.replace('.csv', '')));
}

/** What the chosen or dropped ``files`` are, or why they cannot be used. */
export function classifyUpload(files: readonly File[]): Upload {
  if (files.length === 0) return { kind: 'invalid', message: 'no file chosen' };
  const csvs = files.filter((f) => f.name.toLowerCase().endsWith('.csv'));
  if (csvs.length > 0) {
    const others = files.filter((f) => !csvs.includes(f) || !legacyField(f.name));
    if (others.length > 0) {
      return {
        kind: 'invalid',
        message: `${others.map((f) => f.name).join(', ')}: a legacy upload is ${LEGACY_FILES.join(' + ')} only`,
      };
    }
    const chosen: Partial<Record<LegacyName, File>> = {};
    for (const file of csvs) {
      const field = legacyField(file.name) as LegacyName;
      if (chosen[field]) {
        return { kind: 'invalid', message: `two files for ${field}: ${chosen[field].name}, ${file.name}` };
      }
      chosen[field] = file;
    }
    return { kind: 'legacy', files: chosen, missing: LEGACY_FILES.filter((f) => !chosen[f]) };
  }
  if (files.length > 1) {
    return { kind: 'invalid', message: 'one experiment file at a time (or the legacy CSV pair)' };
  }
  const [file] = files;
  if (!CONFIG_SUFFIXES.some((s) => file.name.toLowerCase().endsWith(s))) {
    return {
      kind: 'invalid',
      message: `${file.name}: expected an experiment .yaml/.yml/.json, or ${LEGACY_FILES.join(' + ')}`,
    };
  }
  return { kind: 'config', file };
}

/** The multipart body of a legacy upload: each file under its field name (a missing one
 * is left out, so the server says which is missing). */
export function legacyForm(files: Partial<Record<LegacyName, File>>): FormData {
  const form = new FormData();
  for (const field of LEGACY_FILES) {
    const file = files[field];
    if (file) form.append(field, file, field);
  }
  return form;
}
