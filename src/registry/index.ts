export { RegistryClient, isSchemaNotFound, type RegisteredSchema, type SubjectVersion, type RegistryClientOptions } from './client.js';
