/**
 * `p`, or the error `fail()` makes if `p` has not settled within `ms`: for
 * waits on hardware and peers that may never answer. The timer is real time
 * (I/O deadlines, not domain time), and `p` itself is not cancelled.
 */
export function withDeadline<T>(p: Promise<T>, ms: number, fail: () => Error): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(fail()), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e) => (clearTimeout(t), reject(e)),
    );
  });
}
