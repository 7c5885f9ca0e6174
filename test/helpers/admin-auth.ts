/**
 * A whole Node-RED with adminAuth for the tests (scripts/node-red-runner.js): users with password
 * 'test-password-1', logging in through the admin API, and the Node-RED under test (NODE_RED_PATH).
 */
import assert from 'node:assert/strict';
import path from 'node:path';

/** bcrypt of 'test-password-1' */
export const TEST_PASSWORD_HASH = '$2b$08$11QpU6K7WvalLLuKlfjzduqzSINAU1QMScuCxadzB2ZwS40m7OLGG';

export interface RunningRed { url: string; port: number; output(): string; stop(): Promise<void> }

/** red.js of the Node-RED under test (undefined: the devDependency). */
export function redJs(): string | undefined {
    return process.env.NODE_RED_PATH ? path.join(process.env.NODE_RED_PATH, 'red.js') : undefined;
}

/** settings.adminAuth with an `admin` ('*') and a `reader` ('read'), plus `extra` users. */
export function adminAuth(extra: Array<{ username: string; permissions: string | string[] }> = []): unknown {
    return {
        type: 'credentials',
        users: [
            { username: 'admin', password: TEST_PASSWORD_HASH, permissions: '*' },
            { username: 'reader', password: TEST_PASSWORD_HASH, permissions: 'read' },
            ...extra.map((u) => ({ ...u, password: TEST_PASSWORD_HASH })),
        ],
    };
}

/** An access token for `username` (scope '*' for admin, 'read' otherwise, unless given). */
export async function login(red: { url: string }, username: string, scope = username === 'admin' ? '*' : 'read'): Promise<string> {
    const res = await fetch(`${red.url}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope, username, password: 'test-password-1' }),
    });
    assert.equal(res.status, 200, `login as ${username}`);
    return ((await res.json()) as { access_token: string }).access_token;
}
