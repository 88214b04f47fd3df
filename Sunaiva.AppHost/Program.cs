using Sunaiva.AppHost;
using Sunaiva.AppHost.Infrastructure;

var builder = DistributedApplication.CreateBuilder(args);

try
{
    builder.AddSunaiva();
}
catch (MissingToolException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 1;
}

await builder.Build().RunAsync();
return 0;
