export { connectRedis, connectRedisChecked } from './connect.js';
