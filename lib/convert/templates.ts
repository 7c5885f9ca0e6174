/** The scripts a new kinesis-convert node starts with (ThingsBoard's tutorial shapes). */
export const UPLINK_TEMPLATE = `// Decoder(payload, metadata): payload = the record (array of char codes), metadata = integrationName,
// your metadata, partitionKey, sequenceNumber, shardId, streamName. Return one object or an array.
var data = decodeToJson(payload);

var result = {
    deviceName: data.devName,
    deviceType: data.devType,
    attributes: {
        partitionKey: metadata.partitionKey
    },
    telemetry: {
        temperature: data.temperature
    }
};

return result;
`;

export const DOWNLINK_TEMPLATE = `// Encoder(msg, metadata, msgType, integrationMetadata): msg = msg.payload, metadata = msg.metadata,
// msgType = msg.msgType (e.g. ATTRIBUTES_UPDATED). Return {contentType, data, metadata} or an array.
var data = {
    devName: metadata.deviceName,
    version: msg.version
};

var result = {
    contentType: 'JSON',
    data: JSON.stringify(data),
    metadata: {
        streamName: 'tb-test-downlink',
        partitionKey: metadata.deviceName || '1'
    }
};

return result;
`;
