import { charDiff, isWrong } from '../lib/diff';

/**
 * A model's answer: green when it matches the ground truth; otherwise red, with a
 * character diff (extra characters highlighted, missing ones struck through).
 */
export function Answer({ answer, truth }: { answer: string | null | undefined; truth: string }) {
  if (answer == null) return <span className="muted">—</span>;
  if (!isWrong(answer, truth)) return <span className="good">{answer}</span>;
  return (
    <span className="bad" data-testid="wrong-answer" title="differs from the ground truth">
      ✗{' '}
      {charDiff(truth, answer).map((part, i) =>
        part.op === 'same' ? (
          <span key={i}>{part.text}</span>
        ) : part.op === 'add' ? (
          <ins key={i} className="diff-add">
            {part.text}
          </ins>
        ) : (
          <del key={i} className="diff-del">
            {part.text}
          </del>
        ),
      )}
    </span>
  );
}
