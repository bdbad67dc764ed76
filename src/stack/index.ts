export { stackUp, stackDown, stackStatus, stackEndpoints, type ServiceStatus, type ServiceState, type Ownership, type StackOptions } from './stack.js';
export * from './layout.js';
