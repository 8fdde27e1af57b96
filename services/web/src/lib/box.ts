/** Where a box in image pixels lies on the image as shown: CSS percentages. */
export function boxStyle(
  box: readonly number[],
  width: number,
  height: number,
): { left: string; top: string; width: string; height: string } | null {
  if (box.length !== 4 || !(width > 0) || !(height > 0)) return null;
  const [x1, y1, x2, y2] = box;
  if (!(x2 > x1 && y2 > y1)) return null;
  const pct = (v: number, of: number) => `${((Math.min(Math.max(v, 0), of) / of) * 100).toFixed(2)}%`;
  return {
    left: pct(x1, width),
    top: pct(y1, height),
    width: pct(x2 - Math.max(x1, 0), width),
    height: pct(y2 - Math.max(y1, 0), height),
  };
}
