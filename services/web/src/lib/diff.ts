/** A character diff of a model's answer against the ground truth. */

export type DiffOp = 'same' | 'add' | 'del';

/** A run of characters: `same` in both, `add` only in the answer, `del` only in the truth. */
export interface DiffPart {
  op: DiffOp;
  text: string;
}

const MAX_CELLS = 250_000; // beyond this the two texts are shown as one replacement

function push(parts: DiffPart[], op: DiffOp, text: string): void {
  const last = parts[parts.length - 1];
  if (last && last.op === op) last.text += text;
  else parts.push({ op, text });
}

/**
 * The shortest edit from `expected` to `actual` by characters (a longest common
 * subsequence), adjacent characters of one kind merged. Texts too long to align are one
 * `del` and one `add`.
 */
export function charDiff(expected: string, actual: string): DiffPart[] {
  const a = Array.from(expected);
  const b = Array.from(actual);
  const parts: DiffPart[] = [];
  if ((a.length + 1) * (b.length + 1) > MAX_CELLS) {
    if (expected) parts.push({ op: 'del', text: expected });
    if (actual) parts.push({ op: 'add', text: actual });
    return parts;
  }
  const width = b.length + 1;
  // lcs[i * width + j]: the longest common subsequence of a[i:] and b[j:]
  const lcs = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i * width + j] =
        a[i] === b[j]
          ? lcs[(i + 1) * width + j + 1] + 1
          : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
    }
  }
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      push(parts, 'same', a[i]);
      i++;
      j++;
    } else if (lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
      push(parts, 'del', a[i++]);
    } else {
      push(parts, 'add', b[j++]);
    }
  }
  while (i < a.length) push(parts, 'del', a[i++]);
  while (j < b.length) push(parts, 'add', b[j++]);
  return parts;
}

/** Whether an answer differs from the ground truth (ignoring surrounding and repeated
 * whitespace); a missing answer is not judged. */
export function isWrong(answer: string | null | undefined, truth: string): boolean {
  if (answer == null) return false;
  const norm = (s: string) => s.trim().replace(/\s+/g, ' ');
  return norm(answer) !== norm(truth);
}
