export * from './records';
export * from './input';
export * from './producer';
