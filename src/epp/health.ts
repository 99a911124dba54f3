// grpc.health.v1.Health (the gRPC health checking protocol): what Kubernetes' grpc probes and the
// Inference Extension's EPP deployments ask. The empty service name and the ext_proc service report the
// picker's readiness; any other name is NOT_FOUND, as the protocol says.
import {
  type ServerUnaryCall,
  type ServerWritableStream,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import {
  type HealthCheckRequest,
  type HealthCheckResponse,
  NOT_SERVING,
  SERVING,
} from './ext-proc-schema.js';

export const EXT_PROC_SERVICE_NAME = 'envoy.service.ext_proc.v3.ExternalProcessor';
const KNOWN = new Set(['', EXT_PROC_SERVICE_NAME]);
const WATCH_POLL_MS = 1_000;

export function healthService(ready: () => boolean): UntypedServiceImplementation {
  const current = (): HealthCheckResponse => ({ status: ready() ? SERVING : NOT_SERVING });
  return {
    Check(
      call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>,
      callback: (err: { code: number; details: string } | null, value?: HealthCheckResponse) => void,
    ) {
      const service = call.request.service ?? '';
      if (!KNOWN.has(service)) callback({ code: status.NOT_FOUND, details: `unknown service ${service}` });
      else callback(null, current());
    },
    // Sends the status now and again whenever it changes, until the client goes.
    Watch(call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) {
      if (!KNOWN.has(call.request.service ?? '')) {
        call.write({ status: 3 });
        return;
      }
      let last = current();
      call.write(last);
      const timer = setInterval(() => {
        const now = current();
        if (now.status !== last.status) call.write(now);
        last = now;
      }, WATCH_POLL_MS);
      call.on('cancelled', () => clearInterval(timer));
      call.on('close', () => clearInterval(timer));
    },
  };
}
