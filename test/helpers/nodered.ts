/**
 * node-red-node-test-helper bound to the Node-RED under test: the devDependency (4.1) by default,
 * or the one at NODE_RED_PATH (CI's Node-RED 5.0 lane on Node 22).
 */
// eslint-disable-next-line @typescript-eslint/no-var-requires
const helper = require('node-red-node-test-helper');

let initialised = false;

export function nodeRedHelper(): typeof helper {
    if (!initialised) {
        const redPath = process.env.NODE_RED_PATH ? require.resolve(process.env.NODE_RED_PATH) : require.resolve('node-red');
        helper.init(redPath);
        initialised = true;
    }
    return helper;
}

/** Path of a compiled node runtime, for helper.load. */
export function nodeModule(type: string): unknown {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require(`../../nodes/${type}/${type}`);
}

/** Resolves with the first `count` messages a test node (the `helper` type) receives. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function collect(node: any, count: number): Promise<any[]> {
    return new Promise((resolve) => {
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const got: any[] = [];
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        node.on('input', (msg: any) => {
            got.push(msg);
            if (got.length === count) resolve(got);
        });
    });
}
