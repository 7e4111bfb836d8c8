/* A genuine compile error: the code uses a member the struct does not have. */
#include <stdio.h>

struct options {
	int count;
	const char *name;
};

int main(void)
{
	struct options opts = { 1, "broken" };

	if (opts.verbose)
		printf("%s: %d\n", opts.name, opts.count);
	return 0;
}
