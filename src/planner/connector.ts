// How the planner acts on the world (DESIGN §13): the one interface its decision loops call, with a
// Kubernetes connector (the DGDSA scale subresource, the DGD as fallback) and a local one (`dynamo run
// --planner`, its in-process workers). The loops never know which one they drive.

/** One service the planner sizes: a DGD service name (Kubernetes) or a worker role (local). */
export interface ServiceState {
  readonly name: string;
  /** Desired replicas now. */
  readonly replicas: number;
  /** Replicas that are up and serving; the planner takes no new action on a service until equal. */
  readonly readyReplicas: number;
  /** GPUs one replica asks for (the service's `resources`), for the total GPU budget; 1 when none. */
  readonly gpusPerReplica: number;
}

/** A connector failure that names its cause (missing service, API unreachable, forbidden, ...). */
export class ConnectorError extends Error {
  override name = 'ConnectorError';
}

export interface PlannerConnector {
  /** The named services as they are now; throws ConnectorError naming any that does not exist. */
  services(names: readonly string[]): Promise<ServiceState[]>;
  /** Sets a service's desired replicas (0 allowed where the service supports scale to zero). */
  scale(name: string, replicas: number): Promise<void>;
  close(): Promise<void>;
}
