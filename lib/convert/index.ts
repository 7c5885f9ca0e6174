/** ThingsBoard-compatible converters: sandboxed decoder/encoder scripts, validation, registry, import. */
export { ScriptEngine, ScriptCompileError, formatScriptError, DEFAULT_MEMORY_LIMIT_MB, MAX_SCRIPT_CHARS } from './sandbox';
export type { Direction, ScriptLang, EngineOptions, UplinkInput, DownlinkInput, RawResult, ScriptErrorInfo, EngineIncident } from './sandbox';
export { Converter, ConvertError, payloadCodes, summarise, metadataObject, MAX_ERROR_CHARS } from './converter';
export type { ConverterConfig, UplinkRequest, DownlinkRequest, UplinkOutcome, DownlinkOutcome, RecordInfo, MetadataPair, ErrorKind } from './converter';
export { normaliseUplink, normaliseDownlink, cleanValues, castValue, OutputError } from './validate';
export type { UplinkEntity, DownlinkRecord, TelemetryEntry } from './validate';
export { applyToRegistry, checkKnown, UpdateOnlyKeysFilter, UnknownEntityError, entityName, entityTypeOf } from './registry';
export type { Registry, RegistryEntry } from './registry';
export { importConverterFile, checkScript, compileNotes, ImportError } from './import';
export type { ImportedConverter } from './import';
export { importConverter } from './import-worker';
export { networkIsolation } from './runner/netns';
export type { NetworkIsolation, NetworkIsolationOptions } from './runner/netns';
export { findForbiddenSyntax } from './guard';
export { installHelpers, HELPER_NAMES, TBEL_ONLY_HELPERS } from './helpers';
export { translateTbel } from './tbel-syntax';
export type { TbelTranslation, TbelError } from './tbel-syntax';
export { UPLINK_TEMPLATE, DOWNLINK_TEMPLATE } from './templates';
