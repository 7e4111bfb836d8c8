#include <stdio.h>

#include <greet.h>

int main(void)
{
	printf("hello: %s\n", greet("hello"));
	return greet_soversion() > 0 ? 0 : 1;
}
