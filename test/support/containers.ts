import { GenericContainer, Network, Wait, type StartedNetwork, type StartedTestContainer } from 'testcontainers';

export interface StartedStack {
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * The same services as docker-compose.yml, for machines with a Docker engine. Kafka advertises
 * the fixed host port it is published on, so clients outside the Docker network can follow it.
 */
export async function startContainers(): Promise<StartedStack> {
  const network: StartedNetwork = await new Network().start();
  const started: StartedTestContainer[] = [];
  try {
    const kafka = await new GenericContainer('apache/kafka:4.1.1')
      .withNetwork(network)
      .withNetworkAliases('kafka')
      .withExposedPorts({ container: 9092, host: 9092 }, { container: 9094, host: 9094 })
      .withEnvironment({
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
        KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://localhost:9093,SASL_PLAINTEXT://:9094,DOCKER://:29092',
        KAFKA_ADVERTISED_LISTENERS: 'PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9094,DOCKER://kafka:29092',
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,DOCKER:PLAINTEXT',
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_INTER_BROKER_LISTENER_NAME: 'DOCKER',
        KAFKA_SASL_ENABLED_MECHANISMS: 'PLAIN',
        KAFKA_LISTENER_NAME_SASL__PLAINTEXT_PLAIN_SASL_JAAS_CONFIG:
          'org.apache.kafka.common.security.plain.PlainLoginModule required user_reprocess="reprocess-secret";',
        KAFKA_OPTS: '-XX:+ExitOnOutOfMemoryError',
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
        KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
      })
      .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
      .start();
    started.push(kafka);
    const registry = await new GenericContainer('confluentinc/cp-schema-registry:7.8.0')
      .withNetwork(network)
      .withExposedPorts({ container: 8081, host: 8081 })
      .withEnvironment({
        SCHEMA_REGISTRY_HOST_NAME: 'schema-registry',
        SCHEMA_REGISTRY_LISTENERS: 'http://0.0.0.0:8081',
        SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS: 'PLAINTEXT://kafka:29092',
        SCHEMA_REGISTRY_KAFKASTORE_TOPIC_REPLICATION_FACTOR: '1',
      })
      .withWaitStrategy(Wait.forHttp('/subjects', 8081))
      .start();
    started.push(registry);
    const redis = await new GenericContainer('redis:7-alpine').withExposedPorts(6379).withWaitStrategy(Wait.forLogMessage(/Ready to accept/)).start();
    started.push(redis);
    return {
      env: {
        KAFKA_BROKERS: '127.0.0.1:9092',
        SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081',
        REDIS_URL: `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`,
        TEST_KAFKA_SASL_BROKERS: '127.0.0.1:9094',
        TEST_KAFKA_SASL_MECHANISMS: 'plain',
      },
      async stop() {
        for (const c of started.reverse()) await c.stop();
        await network.stop();
      },
    };
  } catch (err) {
    for (const c of started.reverse()) await c.stop().catch(() => undefined);
    await network.stop().catch(() => undefined);
    throw err;
  }
}
