// The wire schema of Envoy's External Processing service (ext_proc v3) and of gRPC health checking, as
// protobufjs types and grpc-js service definitions. Only the messages and fields the endpoint picker
// reads or writes are declared, with the upstream field numbers; protobuf skips the fields it does not
// know, so a data plane that sends more (attributes, protocol_config, ...) is read correctly.
//
// Sources (field numbers and names as published; comments and unused fields left out):
// - envoy api/envoy/service/ext_proc/v3/external_processor.proto, api/envoy/config/core/v3/base.proto,
//   api/envoy/type/v3/http_status.proto, checked against the generated Go of
//   github.com/envoyproxy/go-control-plane/envoy v1.40.0 (the module test/epp-client builds with);
// - google/protobuf/struct.proto (protobuf well-known types);
// - grpc/grpc-proto grpc/health/v1/health.proto.
import type { ServiceDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const EXT_PROC = `
syntax = "proto3";
package envoy.service.ext_proc.v3;
service ExternalProcessor { rpc Process(stream ProcessingRequest) returns (stream ProcessingResponse); }
message ProcessingRequest {
  oneof request {
    HttpHeaders request_headers = 2;
    HttpHeaders response_headers = 3;
    HttpBody request_body = 4;
    HttpBody response_body = 5;
    HttpTrailers request_trailers = 6;
    HttpTrailers response_trailers = 7;
  }
  envoy.config.core.v3.Metadata metadata_context = 8;
  bool observability_mode = 10;
}
message ProcessingResponse {
  oneof response {
    HeadersResponse request_headers = 1;
    HeadersResponse response_headers = 2;
    BodyResponse request_body = 3;
    BodyResponse response_body = 4;
    TrailersResponse request_trailers = 5;
    TrailersResponse response_trailers = 6;
    ImmediateResponse immediate_response = 7;
  }
  google.protobuf.Struct dynamic_metadata = 8;
}
message HttpHeaders { envoy.config.core.v3.HeaderMap headers = 1; bool end_of_stream = 3; }
message HttpBody { bytes body = 1; bool end_of_stream = 2; }
message HttpTrailers { envoy.config.core.v3.HeaderMap trailers = 1; }
message HeadersResponse { CommonResponse response = 1; }
message BodyResponse { CommonResponse response = 1; }
message TrailersResponse { HeaderMutation header_mutation = 1; }
message CommonResponse {
  enum ResponseStatus { CONTINUE = 0; CONTINUE_AND_REPLACE = 1; }
  ResponseStatus status = 1;
  HeaderMutation header_mutation = 2;
  bool clear_route_cache = 5;
}
message ImmediateResponse {
  envoy.type.v3.HttpStatus status = 1;
  HeaderMutation headers = 2;
  bytes body = 3;
  string details = 5;
}
message HeaderMutation {
  repeated envoy.config.core.v3.HeaderValueOption set_headers = 1;
  repeated string remove_headers = 2;
}
`;

const CORE = `
syntax = "proto3";
package envoy.config.core.v3;
message Metadata { map<string, google.protobuf.Struct> filter_metadata = 1; }
message HeaderValue { string key = 1; string value = 2; bytes raw_value = 3; }
message HeaderMap { repeated HeaderValue headers = 1; }
message HeaderValueOption {
  enum HeaderAppendAction {
    APPEND_IF_EXISTS_OR_ADD = 0; ADD_IF_ABSENT = 1; OVERWRITE_IF_EXISTS_OR_ADD = 2; OVERWRITE_IF_EXISTS = 3;
  }
  HeaderValue header = 1;
  HeaderAppendAction append_action = 3;
}
`;

// envoy.type.v3.StatusCode is an enum of HTTP codes with the code as its value: carried as a plain int32
// (same varint on the wire), so any status can be sent.
const TYPE = `
syntax = "proto3";
package envoy.type.v3;
message HttpStatus { int32 code = 1; }
`;

const STRUCT = `
syntax = "proto3";
package google.protobuf;
message Struct { map<string, Value> fields = 1; }
message Value {
  oneof kind {
    int32 null_value = 1; double number_value = 2; string string_value = 3; bool bool_value = 4;
    Struct struct_value = 5; ListValue list_value = 6;
  }
}
message ListValue { repeated Value values = 1; }
`;

const HEALTH = `
syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse {
  enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
  ServingStatus status = 1;
}
service Health {
  rpc Check(HealthCheckRequest) returns (HealthCheckResponse);
  rpc Watch(HealthCheckRequest) returns (stream HealthCheckResponse);
}
`;

const root = new protobuf.Root();
for (const source of [STRUCT, CORE, TYPE, EXT_PROC, HEALTH]) protobuf.parse(source, root, { keepCase: true });
root.resolveAll();

// ---- plain shapes of the decoded messages (keepCase: proto field names) ----------------------------

export interface HeaderValue {
  key: string;
  value?: string;
  raw_value?: Uint8Array;
}
export interface HttpHeaders {
  headers?: { headers?: HeaderValue[] };
  end_of_stream?: boolean;
}
export interface HttpBody {
  body?: Uint8Array;
  end_of_stream?: boolean;
}
/** A google.protobuf.Struct as decoded (fields → Value with one kind set). */
export interface PbStruct {
  fields?: Record<string, PbValue>;
}
export interface PbValue {
  null_value?: number;
  number_value?: number;
  string_value?: string;
  bool_value?: boolean;
  struct_value?: PbStruct;
  list_value?: { values?: PbValue[] };
}
export interface ProcessingRequest {
  request_headers?: HttpHeaders;
  response_headers?: HttpHeaders;
  request_body?: HttpBody;
  response_body?: HttpBody;
  request_trailers?: object;
  response_trailers?: object;
  metadata_context?: { filter_metadata?: Record<string, PbStruct> };
  observability_mode?: boolean;
}

export interface HeaderMutation {
  set_headers?: { header: { key: string; raw_value: Uint8Array }; append_action?: number }[];
  remove_headers?: string[];
}
export interface CommonResponse {
  status?: number;
  header_mutation?: HeaderMutation;
  clear_route_cache?: boolean;
}
export interface ProcessingResponse {
  request_headers?: { response?: CommonResponse };
  response_headers?: { response?: CommonResponse };
  request_body?: { response?: CommonResponse };
  response_body?: { response?: CommonResponse };
  request_trailers?: { header_mutation?: HeaderMutation };
  response_trailers?: { header_mutation?: HeaderMutation };
  immediate_response?: {
    status: { code: number };
    headers?: HeaderMutation;
    body?: Uint8Array;
    details?: string;
  };
  dynamic_metadata?: PbStruct;
}

/** OVERWRITE_IF_EXISTS_OR_ADD: the EPP's header replaces any the client sent. */
export const OVERWRITE_IF_EXISTS_OR_ADD = 2;

const ProcessingRequestType = root.lookupType('envoy.service.ext_proc.v3.ProcessingRequest');
const ProcessingResponseType = root.lookupType('envoy.service.ext_proc.v3.ProcessingResponse');
const HealthCheckRequestType = root.lookupType('grpc.health.v1.HealthCheckRequest');
const HealthCheckResponseType = root.lookupType('grpc.health.v1.HealthCheckResponse');

const codec = <T>(type: protobuf.Type) => ({
  serialize: (value: T) => Buffer.from(type.encode(type.fromObject(value as object)).finish()),
  // defaults: false — absent fields stay absent, so "which oneof member is set" is a key test.
  deserialize: (bytes: Buffer) => type.toObject(type.decode(bytes), { bytes: Uint8Array }) as T,
});

const processingRequest = codec<ProcessingRequest>(ProcessingRequestType);
const processingResponse = codec<ProcessingResponse>(ProcessingResponseType);

export const EXT_PROC_SERVICE: ServiceDefinition = {
  Process: {
    path: '/envoy.service.ext_proc.v3.ExternalProcessor/Process',
    requestStream: true,
    responseStream: true,
    requestSerialize: processingRequest.serialize,
    requestDeserialize: processingRequest.deserialize,
    responseSerialize: processingResponse.serialize,
    responseDeserialize: processingResponse.deserialize,
  },
};

export interface HealthCheckRequest {
  service?: string;
}
/** ServingStatus: 1 SERVING, 2 NOT_SERVING, 3 SERVICE_UNKNOWN. */
export interface HealthCheckResponse {
  status: number;
}
export const SERVING = 1;
export const NOT_SERVING = 2;
export const SERVICE_UNKNOWN = 3;

const healthRequest = codec<HealthCheckRequest>(HealthCheckRequestType);
const healthResponse = codec<HealthCheckResponse>(HealthCheckResponseType);
const healthMethod = (name: string, responseStream: boolean) => ({
  path: `/grpc.health.v1.Health/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: healthRequest.serialize,
  requestDeserialize: healthRequest.deserialize,
  responseSerialize: healthResponse.serialize,
  responseDeserialize: healthResponse.deserialize,
});

export const HEALTH_SERVICE: ServiceDefinition = {
  Check: healthMethod('Check', false),
  Watch: healthMethod('Watch', true),
};

/** A google.protobuf.Struct of string values (the shape of the EPP's dynamic metadata). */
export function stringStruct(fields: Record<string, string | PbStruct>): PbStruct {
  const out: Record<string, PbValue> = {};
  for (const [k, v] of Object.entries(fields)) {
    out[k] = typeof v === 'string' ? { string_value: v } : { struct_value: v };
  }
  return { fields: out };
}
