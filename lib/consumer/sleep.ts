/** The consumer's one timer helper: waits that a stop (AbortSignal) cuts short. */

export function abortError(signal?: AbortSignal): Error {
    const reason = signal?.reason;
    if (reason instanceof Error) return reason;
    const err = new Error('aborted');
    err.name = 'AbortError';
    return err;
}

/** Resolves after ms, or at once when the signal aborts (the caller checks the signal afterwards). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
        const done = (): void => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', done);
            resolve();
        };
        const timer = setTimeout(done, ms);
        signal?.addEventListener('abort', done, { once: true });
    });
}

/** As `sleep`, but rejects with the abort reason (an AbortError) when the signal aborts. */
export async function sleepOrAbort(ms: number, signal?: AbortSignal): Promise<void> {
    await sleep(ms, signal);
    if (signal?.aborted) throw abortError(signal);
}
