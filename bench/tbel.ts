/**
 * TBEL costs, as ratios measured in one run (no absolute thresholds):
 *   engine start — creating a ScriptEngine (helpers installed in a fresh realm; TBEL also translates the
 *                  script and adds the Java collection methods) for TBEL vs JavaScript
 *   decode       — the tutorial decoder (decodeToJson) per record, TBEL vs JavaScript, batched as the node runs it
 *   translate    — translateTbel on a 1 MB script (characters per second; linear by construction)
 * Run: npm run build && node dist/bench/tbel.js [records]
 */
import { ScriptEngine, UplinkInput } from '../lib/convert/sandbox';
import { translateTbel } from '../lib/convert/tbel-syntax';

const DECODER = `var data = decodeToJson(payload);
var result = { deviceName: data.devName, deviceType: data.devType, telemetry: { temperature: data.temperature } };
return result;`;
const N = Number(process.argv[2]) || 50_000;
const texts = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ devName: `thermostat_${i}`, devType: 'thermostat', temperature: 20 + (i % 10) }));
const inputs: UplinkInput[] = Array.from({ length: N }, (_, i) => ({ codes: texts[i % texts.length], metadata: {} }));

function best(fn: () => void): number {
    fn();
    let b = Infinity;
    for (let k = 0; k < 3; k++) {
        const t0 = process.hrtime.bigint();
        fn();
        b = Math.min(b, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return b;
}

const starts = 20;
const jsStart = best(() => { for (let i = 0; i < starts; i++) new ScriptEngine({ direction: 'uplink', scriptLang: 'JS', script: DECODER }); }) / starts;
const tbStart = best(() => { for (let i = 0; i < starts; i++) new ScriptEngine({ direction: 'uplink', scriptLang: 'TBEL', script: DECODER }); }) / starts;
console.log(`engine start: JS ${(jsStart * 1000).toFixed(1)} ms, TBEL ${(tbStart * 1000).toFixed(1)} ms (TBEL/JS ${(tbStart / jsStart).toFixed(2)})`);

const js = new ScriptEngine({ direction: 'uplink', scriptLang: 'JS', script: DECODER });
const tb = new ScriptEngine({ direction: 'uplink', scriptLang: 'TBEL', script: DECODER });
const jsRate = N / best(() => { js.runBatch(inputs); });
const tbRate = N / best(() => { tb.runBatch(inputs); });
console.log(`decode: JS ${Math.round(jsRate)} rec/s, TBEL ${Math.round(tbRate)} rec/s (TBEL/JS ${(tbRate / jsRate).toFixed(2)})`);

const big = ('var m = [:];\nforeach (x : list) { int y = x.size(); m.put("k", y); }\n').repeat(Math.ceil(1_000_000 / 60));
const tr = big.length / best(() => { translateTbel(big); });
console.log(`translate: ${(tr / 1e6).toFixed(1)} M chars/s on ${(big.length / 1e6).toFixed(1)} MB`);
