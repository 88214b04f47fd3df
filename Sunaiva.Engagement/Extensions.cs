using Sunaiva.Engagement.Internal;
using Sunaiva.Engagement.Ops;
using Sunaiva.Engagement.Welcome;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.Integration;
using Sunaiva.ServiceDefaults.Mail;

namespace Sunaiva.Engagement;

public static class Extensions
{
    public static IHostApplicationBuilder AddEngagementServices(this IHostApplicationBuilder builder)
    {
        builder.AddSunaivaBackbone(ResourceNames.EngagementDb, typeof(Extensions).Assembly);
        builder.AddSunaivaSmtp();
        builder.Services.AddOptions<InternalEventsOptions>().BindConfiguration(InternalEventsOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        var email = builder.Configuration.GetSection("Email").Get<EmailSettings>() ?? new EmailSettings();
        builder.Services.AddSingleton(email);
        builder.Services.AddProviderChain<Email.IEmailTransport>(Email.EmailDelivery.Capability).AddAdapter<Email.SmtpTransport>();
        builder.Services.AddSingleton<Email.EmailDelivery>();
        builder.Services.AddSingleton<Email.EmailOutbox>();
        builder.Services.AddWorkHandler<Email.EmailSendWork>();
        builder.Services.AddEventHandler<WelcomeEmailHandler>();
        builder.Services.AddEventHandler<BillingMail.BillingMailHandler>();
        builder.AddOpsDashboard();
        return builder;
    }

    public static WebApplication MapEngagementApi(this WebApplication app)
    {
        app.MapInternalEventsApi();
        app.MapTestEmailApi();
        app.MapOpsDashboard();
        return app;
    }
}
