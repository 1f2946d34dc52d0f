export { parseConfig, parseDuration, describeOptions, envName, ConfigError } from './parse-config.js';
export type { OptionSpec, OptionSpecs, OptionType, ConfigOf } from './parse-config.js';
export { hostPort, hostPortList, positive, nonNegative, nonEmpty, regionName, oneOf } from './checks.js';
