#include <stdio.h>

#include <greet.h>

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		printf("goodbye-extra: %s\n", greet(argv[i]));
	if (argc < 2)
		printf("goodbye-extra: %s\n", greet("everybody"));
	return 0;
}
