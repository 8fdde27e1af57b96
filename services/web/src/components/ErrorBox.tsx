/** An API error shown verbatim (it names file, line and field). */
export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const text = error instanceof Error ? error.message : String(error);
  return (
    <div className="error-box" role="alert">
      {title && <strong>{title}</strong>}
      <pre>{text}</pre>
    </div>
  );
}
