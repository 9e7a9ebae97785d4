export * from './schema';
export * from './normalize';
export * from './signature';
export * from './receive';
export * from './vendorSignatures';
export * from './hubspot';
