/**
 * kinesis-convert's runner network isolation as Node-RED configures it (settings.js):
 *
 *   kinesisConvert: { requireNetworkIsolation: true, unsharePath: '/usr/bin/unshare' }
 *
 * Both optional. The probe itself is lib's (`networkIsolation`, once per process); this says once in
 * Node-RED's log when runners run without it, and hands the options to every runner (nodes, Test, Import).
 */
import type { NodeAPI } from 'node-red';
import { networkIsolation, NetworkIsolation, NetworkIsolationOptions } from '../../lib/convert';

interface ConvertSettings {
    requireNetworkIsolation?: unknown;
    unsharePath?: unknown;
}

export interface Isolation {
    /** What every runner of this runtime is started with. */
    readonly options: NetworkIsolationOptions;
    /** The probed answer (cached); the first time it is missing, one line in Node-RED's log. */
    check(): Promise<NetworkIsolation>;
}

export function isolationFor(RED: NodeAPI): Isolation {
    const s = ((RED.settings as unknown as { kinesisConvert?: ConvertSettings }).kinesisConvert ?? {}) as ConvertSettings;
    const options: NetworkIsolationOptions = { required: s.requireNetworkIsolation === true };
    if (typeof s.unsharePath === 'string' && s.unsharePath) options.unshare = s.unsharePath;
    let said = false;
    return {
        options,
        check: () =>
            networkIsolation(options).then((iso) => {
                if (!iso.isolated && !said) {
                    said = true;
                    const reason = iso.reason ?? '';
                    if (options.required) RED.log.error(RED._('kinesis-convert.errors.isolationRequired', { reason }));
                    else RED.log.warn(RED._('kinesis-convert.errors.noIsolation', { reason }));
                }
                return iso;
            }),
    };
}
