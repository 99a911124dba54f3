// The conversion webhook: answers one ConversionReview (apiextensions.k8s.io/v1) by converting each
// object to the desired version with the pure functions of src/api/k8s/conversion.ts. The API server
// calls it whenever a client reads or writes a DynamoGraphDeployment or DynamoComponentDeployment in the
// version it is not stored in.
import { convertObject } from '../../api/k8s/index.js';

export interface ConversionRequest {
  uid: string;
  desiredAPIVersion: string;
  objects: Record<string, unknown>[];
}

export interface ConversionResponse {
  uid: string;
  convertedObjects: Record<string, unknown>[];
  result: { status: 'Success' } | { status: 'Failure'; message: string };
}

/** The request of a ConversionReview body, or undefined when it is not one. */
export function conversionRequestOf(body: unknown): ConversionRequest | undefined {
  const request = (body as { request?: Partial<ConversionRequest> } | null)?.request;
  if (
    !request ||
    typeof request.uid !== 'string' ||
    typeof request.desiredAPIVersion !== 'string' ||
    !Array.isArray(request.objects)
  ) {
    return undefined;
  }
  return request as ConversionRequest;
}

/** Converts every object, or fails the whole review (the API server then fails the client's request). */
export function convert(request: ConversionRequest): ConversionResponse {
  const { uid, desiredAPIVersion } = request;
  try {
    const convertedObjects = request.objects.map((o, i) => {
      try {
        return convertObject(o, desiredAPIVersion);
      } catch (err) {
        throw new Error(
          `objects[${i}] (${String(o.metadata && (o.metadata as { name?: unknown }).name)}): ${(err as Error).message}`,
        );
      }
    });
    return { uid, convertedObjects, result: { status: 'Success' } };
  } catch (err) {
    return { uid, convertedObjects: [], result: { status: 'Failure', message: (err as Error).message } };
  }
}
