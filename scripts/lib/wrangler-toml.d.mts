export declare function d1Databases(
	text: string,
): { binding: string | undefined; databaseName: string | undefined; databaseId: string | undefined }[];
